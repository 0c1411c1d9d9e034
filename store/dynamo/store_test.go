package dynamo_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/serverless-socketio/server/session"
	"github.com/serverless-socketio/server/store/dynamo"
	"github.com/serverless-socketio/server/store/storetest"
)

// localClient returns a client for the DynamoDB Local named by SIO_TEST_DYNAMODB_URL
// (CI: http://127.0.0.1:18000), skipping the test when it is not set.
func localClient(t testing.TB) *dynamodb.Client {
	t.Helper()
	url := os.Getenv("SIO_TEST_DYNAMODB_URL")
	if url == "" {
		t.Skip("SIO_TEST_DYNAMODB_URL not set")
	}
	return dynamo.NewClient("us-east-1", url, localCreds)
}

// localCreds are what DynamoDB Local accepts: any key, as long as there is one.
var localCreds = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: "local", SecretAccessKey: "local", Source: "test"}, nil
})

// newTable creates a fresh table for one test, named after it, and drops it afterwards.
func newTable(t testing.TB, db *dynamodb.Client) string {
	t.Helper()
	name := "siotest-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' {
			return r
		}
		return '-'
	}, t.Name())
	name = name[:min(len(name), 255)]
	ctx := context.Background()
	db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	if err := dynamo.CreateTable(ctx, db, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)}) })
	return name
}

func TestConformanceDynamoDBLocal(t *testing.T) {
	db := localClient(t)
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock) session.Store {
		s, err := dynamo.New(db, dynamo.Options{Table: newTable(t, db), Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// BenchmarkBroadcastDynamoDBLocal measures one commit that broadcasts a chat message to a room
// of 10, 100 and 1,000 members on DynamoDB Local: the member Query and the parallel
// BatchWriteItems of the fan-out. Run: SIO_TEST_DYNAMODB_URL=http://127.0.0.1:8000 go test
// -run '^$' -bench BroadcastDynamoDBLocal ./store/dynamo/
func BenchmarkBroadcastDynamoDBLocal(b *testing.B) {
	db := localClient(b)
	ctx := context.Background()
	for _, n := range []int{10, 100, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			s, err := dynamo.New(db, dynamo.Options{Table: newTable(b, db)})
			if err != nil {
				b.Fatal(err)
			}
			sids := make([]string, n)
			for i := range sids {
				sids[i] = fmt.Sprintf("bench-%d-%d", n, i)
				ss := &session.Session{ID: sids[i], Transport: session.Polling, PingInterval: time.Minute, PingTimeout: time.Minute, LastPong: time.Now()}
				if err := s.Create(ctx, ss, ss.Schedule(true)); err != nil {
					b.Fatal(err)
				}
				var x session.Batch
				x.Connect("/", fmt.Sprintf("sock%d", i))
				x.Join("/", "room")
				if _, err := s.Commit(ctx, sids[i], &x); err != nil {
					b.Fatal(err)
				}
			}
			payload := []byte(`42["chat_message",{"text":"hello"}]`)
			b.ResetTimer()
			for b.Loop() {
				var x session.Batch
				x.Broadcast("/", []string{"room"}, nil, payload)
				if _, err := s.Commit(ctx, sids[0], &x); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}
