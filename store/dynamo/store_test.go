package dynamo_test

import (
	"context"
	"os"
	"strings"
	"testing"

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
	name := "siotest-" + strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())
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
