package dynamo_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/store/dynamo"
	"github.com/serverless-socketio/server/store/storetest"
)

// interleaved is DynamoDB that runs before() once, just before the first PutItem of the lease
// token "late": another request coming between AcquireRead's Query and its PutItem.
type interleaved struct {
	dynamo.API
	before func()
}

func (d *interleaved) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if tok, ok := in.Item["tok"].(*types.AttributeValueMemberS); ok && tok.Value == "late" && d.before != nil {
		before := d.before
		d.before = nil
		before()
	}
	return d.API.PutItem(ctx, in, opts...)
}

// TestAcquireReadRacesAGet: AcquireRead reads, then takes the lease only if nobody took it since
// the read. A GET that took the lease and let it go in between (and may have acknowledged what
// the read returned) makes the read count for nothing: the caller reads again, with the other
// GET as prev; a GET that still holds the lease makes it ErrBusy.
func TestAcquireReadRacesAGet(t *testing.T) {
	db := localClient(t)
	d := &interleaved{API: db}
	clock := storetest.NewClock()
	s, err := dynamo.New(d, dynamo.Options{Table: newTable(t, db), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ss := &session.Session{ID: "raced", Transport: session.Polling, PingInterval: time.Minute, PingTimeout: time.Minute, LastPong: clock.Now()}
	if err := s.Create(ctx, ss, ss.Schedule(true)); err != nil {
		t.Fatal(err)
	}
	other := func(release bool) func() {
		return func() {
			if _, err := s.Acquire(ctx, "raced", session.LeasePoll, "other", 20*time.Second); err != nil {
				t.Errorf("the other GET's Acquire: %v", err)
			}
			if release {
				if err := s.Release(ctx, "raced", session.LeasePoll, "other"); err != nil {
					t.Errorf("the other GET's Release: %v", err)
				}
			}
		}
	}
	cameAndWent := func(what string) {
		t.Helper()
		d.before = other(true)
		prev, read, _, _, err := s.AcquireRead(ctx, "raced", session.LeasePoll, "late", 20*time.Second, 0)
		if err != nil || read || prev != "other" {
			t.Fatalf("after a GET came and went %s: prev %q, read %v, %v; want the lease, no read, prev other", what, prev, read, err)
		}
		if err := s.Release(ctx, "raced", session.LeasePoll, "late"); err != nil {
			t.Fatal(err)
		}
	}
	cameAndWent("(the lease never taken before)")
	cameAndWent("(the lease released by its last holder)")
	if prev, read, _, _, err := s.AcquireRead(ctx, "raced", session.LeasePoll, "calm", 20*time.Second, 0); err != nil || !read || prev != "late" {
		t.Fatalf("with nobody in between: prev %q, read %v, %v; want the lease, a read, prev late", prev, read, err)
	}
	if err := s.Release(ctx, "raced", session.LeasePoll, "calm"); err != nil {
		t.Fatal(err)
	}
	d.before = other(false)
	if _, read, _, _, err := s.AcquireRead(ctx, "raced", session.LeasePoll, "late", 20*time.Second, 0); !errors.Is(err, session.ErrBusy) || read {
		t.Fatalf("with a GET holding the lease: read %v, %v; want ErrBusy", read, err)
	}
}
