//go:build linux

package lambdafn_test

// The RIE scenarios of rie_test.go with the function on DynamoDB Local (SIO_STORE=dynamodb)
// instead of Redis. They need SIO_TEST_RIE and SIO_TEST_BOOTSTRAP, as the Redis tests do, and
//
//	SIO_TEST_DYNAMODB_URL  DynamoDB Local (http://127.0.0.1:18000); each test gets a fresh table
//
// and skip without them.
//
// DynamoDB pushes nothing: a held GET reads its queue again on a backoff, here at most
// rieDynamoPollBackoff apart (SIO_POLL_BACKOFF; 1 s by default). The function announces
// Engine.IO's default maxPayload on this store too: dynamo.MaxPacket (1 MiB) is above it.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/serverless-socketio/server/lambdafn"
	"github.com/serverless-socketio/server/store/dynamo"
)

const (
	envTestDynamoURL = "SIO_TEST_DYNAMODB_URL"

	// rieDynamoPollBackoff is the function's SIO_POLL_BACKOFF: the longest wait between two
	// reads of a held poll's queue. Shorter than the 1 s default, so that a message reaches a
	// held GET sooner; an idle re-read is one strongly consistent Query of the session.
	rieDynamoPollBackoff = 200 * time.Millisecond
)

func TestRIEPollingChatDynamoDBLocal(t *testing.T) {
	rieScenarioPollingChat(t, startRIEDynamoDB)
}

func TestRIEWebSocketDynamoDBLocal(t *testing.T) { rieScenarioWebSocket(t, startRIEDynamoDB) }

func TestRIEGoneExceptionDynamoDBLocal(t *testing.T) {
	rieScenarioGoneException(t, startRIEDynamoDB)
}

func TestRIESweeperDynamoDBLocal(t *testing.T) { rieScenarioSweeper(t, startRIEDynamoDB) }

// startRIEDynamoDB starts aws-lambda-rie with the function on a fresh table of DynamoDB Local
// (created here, deleted when the test ends); overrides replace entries of the function's
// environment. There is no Redis in that environment.
func startRIEDynamoDB(t *testing.T, overrides map[string]string) *lambdaRIE {
	t.Helper()
	rieBin, bootstrap, endpoint := rieEnv(t, "DynamoDB Local", envTestDynamoURL, "http://host:port")
	table := rieDynamoTable(t, endpoint)
	store := map[string]string{
		lambdafn.EnvStore:          "dynamodb",
		lambdafn.EnvDynamoTable:    table,
		lambdafn.EnvDynamoEndpoint: endpoint,
		lambdafn.EnvPollBackoff:    rieDynamoPollBackoff.String(),
	}
	t.Logf("DynamoDB Local %s, table %s, %s=%v", endpoint, table, lambdafn.EnvPollBackoff, rieDynamoPollBackoff)
	return startFunction(t, rieBin, bootstrap, store, 1_000_000, overrides)
}

// rieDynamoTable creates a table with the store's schema (dynamo.CreateTable) for this test and
// deletes it when the test ends, after the RIE: cleanups run last-registered first.
//
// The client signs with the function's own access key and region (the RIE passes
// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and AWS_REGION on to it): DynamoDB
// Local accepts any key, but without -sharedDb it keeps one database per access key and region,
// so a table created under another key would not exist for the function.
func rieDynamoTable(t *testing.T, endpoint string) string {
	t.Helper()
	creds := aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: rieAccessKey, SecretAccessKey: rieSecretKey, SessionToken: rieSessionToken, Source: "test"}, nil
	})
	db := dynamo.NewClient(rieRegion, endpoint, creds)
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	// Named after the test (in the characters a table name may have), with a random suffix: the
	// table is fresh even when another run uses the same DynamoDB Local.
	name := "siorie-" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' {
			return r
		}
		return '-'
	}, strings.TrimPrefix(t.Name(), "TestRIE"))
	name = name[:min(len(name), 200)] + "-" + hex.EncodeToString(suffix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ListTables(ctx, &dynamodb.ListTablesInput{Limit: aws.Int32(1)}); err != nil {
		t.Fatalf("DynamoDB Local at %s does not answer: %v", endpoint, err)
	}
	start := time.Now()
	if err := dynamo.CreateTable(ctx, db, name); err != nil {
		t.Fatalf("creating table %s on %s: %v", name, endpoint, err)
	}
	t.Logf("table %s created in %v", name, time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := db.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)}); err != nil {
			t.Errorf("deleting table %s: %v", name, err)
		}
	})
	return name
}
