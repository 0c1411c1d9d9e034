package deploy_test

import (
	"reflect"
	"slices"
	"testing"

	"github.com/serverless-socketio/server/store/dynamo"
)

// TestDynamoActionsMatchStore: the IAM actions the template grants on the table are exactly the
// calls the DynamoDB store can make (its API interface), so a new call fails here until the
// policy allows it, and a grant nothing uses fails too.
func TestDynamoActionsMatchStore(t *testing.T) {
	api := reflect.TypeFor[dynamo.API]()
	var used []string
	for i := range api.NumMethod() {
		switch name := api.Method(i).Name; name {
		case "TransactWriteItems":
			// Authorized item by item: the store's transactions hold Puts and Deletes.
			used = append(used, "dynamodb:PutItem", "dynamodb:DeleteItem")
		default:
			used = append(used, "dynamodb:"+name)
		}
	}
	slices.Sort(used)
	used = slices.Compact(used)
	want := slices.Sorted(slices.Values(dynamoActions))
	if !slices.Equal(used, want) {
		t.Fatalf("store/dynamo calls %q; the template test expects the policy to grant %q", used, want)
	}
}
