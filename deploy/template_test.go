package deploy_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/awslabs/goformation/v7"
	"github.com/awslabs/goformation/v7/cloudformation"
	"github.com/awslabs/goformation/v7/cloudformation/apigatewayv2"
	"github.com/awslabs/goformation/v7/cloudformation/dynamodb"
	"github.com/awslabs/goformation/v7/cloudformation/global"
	"github.com/awslabs/goformation/v7/cloudformation/iam"
	"github.com/awslabs/goformation/v7/cloudformation/lambda"
	"github.com/awslabs/goformation/v7/cloudformation/logs"
	"github.com/awslabs/goformation/v7/cloudformation/serverless"
	"github.com/awslabs/goformation/v7/intrinsics"

	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/lambdafn"
)

// Logical ids the checks start from.
const (
	sioFunction     = "SioFunction"     // HTTP API, WebSocket routes, the open event
	sweeperFunction = "SweeperFunction" // the schedule
	webSocketAPI    = "WebSocketApi"
	httpAPI         = "HttpApi"
	sessionTable    = "SessionTable"
	dueIndex        = "due" // the table's one global secondary index
)

// The environment contract. cmd/lambda reads lambdafn.EnvNames; the template must set exactly
// those, less the ones below, on every function, each from the source given in envSources.
// Adding a variable to lambdafn therefore fails this test until the template sets it (or it is
// listed here as deliberately unset).
var notSetInAWS = map[string]string{
	lambdafn.EnvDynamoEndpoint: "DynamoDB Local only; in AWS the SDK resolves the regional endpoint",
	lambdafn.EnvLambdaEndpoint: "tests only; in AWS the function invokes lambda.<region>.amazonaws.com",
}

var envSources = map[string]string{
	lambdafn.EnvStore:          "Ref StoreBackend",
	lambdafn.EnvRedisURL:       "Ref RedisUrl",
	lambdafn.EnvDynamoTable:    "Ref " + sessionTable,
	lambdafn.EnvAPIGWEndpoint:  "Fn::Sub https://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}",
	lambdafn.EnvPingInterval:   "Ref PingInterval",
	lambdafn.EnvPingTimeout:    "Ref PingTimeout",
	lambdafn.EnvWSPingInterval: "Ref WsPingInterval",
	lambdafn.EnvPollHold:       "Ref PollHold",
	lambdafn.EnvCORSOrigins:    "Ref CorsOrigins",
	lambdafn.EnvWSAnyOrigin:    "Ref WsAnyOrigin",
	lambdafn.EnvMaxPayload:     "Ref MaxPayload",
	lambdafn.EnvConnectTimeout: "Ref ConnectTimeout",
	lambdafn.EnvSweepPassEvery: "Ref SweepPass",
	lambdafn.EnvPollBackoff:    "Ref PollBackoff",
}

// The DynamoDB actions the store uses on the table (store/dynamo's API interface, checked by
// TestDynamoActionsMatchStore). A transaction (TransactWriteItems) is no IAM action of its own:
// DynamoDB authorizes each item in it as PutItem, UpdateItem or DeleteItem.
var dynamoActions = []string{
	"dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem",
	"dynamodb:Query", "dynamodb:UpdateItem",
}

// The DynamoDB actions on the due index (sessions past their deadline, WebSocket pings due).
var dynamoIndexActions = []string{"dynamodb:Query"}

// The index's ARN, as the policy writes it.
const dueIndexARN = "${" + sessionTable + ".Arn}/index/" + dueIndex

// Every action the functions' roles may grant.
var allowedActions = append([]string{
	"execute-api:ManageConnections", "lambda:InvokeFunction", "logs:CreateLogStream", "logs:PutLogEvents",
}, dynamoActions...)

var manageConnectionsARN = regexp.MustCompile(`^arn:\$\{AWS::Partition\}:execute-api:\$\{AWS::Region\}:\$\{AWS::AccountId\}:\$\{` + webSocketAPI + `\}/\$\{StageName\}/(POST|DELETE)/@connections/\*$`)

// vpcParams turns the VPC on.
var vpcParams = map[string]any{"SubnetIds": "subnet-1,subnet-2", "SecurityGroupIds": "sg-1"}

// inputs are what the checks read: the template, the Makefile, the names lambdafn reads, and a
// scratch directory.
type inputs struct {
	template []byte
	makefile []byte
	envNames []string
	dir      string
}

// report collects a check's problems.
type report struct{ problems []string }

func (r *report) errorf(format string, args ...any) {
	r.problems = append(r.problems, fmt.Sprintf(format, args...))
}

type check struct {
	name string
	run  func(r *report, in inputs)
}

var checks = []check{
	{"websocket routes reach the function", checkWebSocket},
	{"http api routes reach the function", checkHTTPAPI},
	{"environment is lambdafn's", checkEnvironment},
	{"store defaults to dynamodb", checkStore},
	{"session table", checkTable},
	{"manage connections on this api only", checkManageConnections},
	{"least privilege", checkLeastPrivilege},
	{"vpc only with subnets", checkVPC},
	{"sweeper schedule", checkSchedule},
	{"timeouts", checkTimeouts},
	{"build", checkBuild},
	{"outputs", checkOutputs},
}

func readInputs(t *testing.T) inputs {
	t.Helper()
	tpl, err := os.ReadFile("../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	return inputs{template: tpl, makefile: mk, envNames: lambdafn.EnvNames, dir: t.TempDir()}
}

func TestTemplate(t *testing.T) {
	in := readInputs(t)
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			skipWithoutMake(t, c.name)
			var r report
			c.run(&r, in)
			for _, p := range r.problems {
				t.Error(p)
			}
		})
	}
}

// skipWithoutMake skips the build check where make is not installed: `go test ./...` must pass
// on a machine with nothing but Go. CI (CI set) has make, and there a missing one fails.
func skipWithoutMake(t *testing.T, check string) {
	if check != "build" || os.Getenv("CI") != "" {
		return
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed: the Makefile's build recipe is checked where it is (CI)")
	}
}

// TestChecksCatchBreakage breaks the template (or the Makefile) one way at a time and asserts
// that the check meant to catch it reports a problem containing want: every assertion above can
// fail. A mutation whose text is no longer in the file fails too (update it with the template).
func TestChecksCatchBreakage(t *testing.T) {
	in := readInputs(t)
	byName := map[string]check{}
	for _, c := range checks {
		byName[c.name] = c
	}
	for _, m := range mutations {
		t.Run(m.check+"/"+m.want, func(t *testing.T) {
			skipWithoutMake(t, m.check)
			c, ok := byName[m.check]
			if !ok {
				t.Fatalf("no check %q", m.check)
			}
			broken := in
			broken.dir = t.TempDir()
			if m.envNames != nil {
				broken.envNames = m.envNames(slices.Clone(in.envNames))
			} else {
				src := &broken.template
				if m.makefile {
					src = &broken.makefile
				}
				if n := strings.Count(string(*src), m.old); n != 1 {
					t.Fatalf("%q occurs %d times (want once): update the mutation", m.old, n)
				}
				*src = []byte(strings.Replace(string(*src), m.old, m.new, 1))
			}
			var r report
			c.run(&r, broken)
			for _, p := range r.problems {
				if strings.Contains(p, m.want) {
					t.Logf("caught: %s", p)
					return
				}
			}
			t.Errorf("replacing %q with %q: no problem mentions %q; got %q", m.old, m.new, m.want, r.problems)
		})
	}
}

type mutation struct {
	check    string
	old, new string
	want     string                  // a substring of the expected problem
	makefile bool                    // mutate the Makefile instead of the template
	envNames func([]string) []string // or change the names lambdafn reads
}

var mutations = []mutation{
	// WebSocket API
	{check: "websocket routes reach the function", old: "ProtocolType: WEBSOCKET", new: "ProtocolType: HTTP", want: "ProtocolType"},
	{check: "websocket routes reach the function", old: "RouteSelectionExpression: $request.body.action", new: "RouteSelectionExpression: $request.body.type", want: "RouteSelectionExpression"},
	{check: "websocket routes reach the function", old: "RouteKey: $disconnect", new: "RouteKey: $disconnected", want: "$disconnect"},
	{check: "websocket routes reach the function", old: "RouteKey: $connect", new: "RouteKey: $default", want: "twice"},
	{check: "websocket routes reach the function", old: "      OperationName: Message\n      Target: !Sub \"integrations/${WsIntegration}\"", new: "      OperationName: Message\n      Target: !Sub \"integrations/${WsIntegrationX}\"", want: "WsIntegrationX"},
	{check: "websocket routes reach the function", old: "      OperationName: Connect\n      Target: !Sub \"integrations/${WsIntegration}\"", new: "      OperationName: Connect\n      Target: !Sub \"integrations/${WebSocketApi}\"", want: "not an integration"},
	{check: "websocket routes reach the function", old: "IntegrationType: AWS_PROXY", new: "IntegrationType: AWS", want: "IntegrationType"},
	{check: "websocket routes reach the function", old: "functions/${SioFunction.Arn}/invocations", new: "functions/${SweeperFunction.Arn}/invocations", want: "IntegrationUri"},
	{check: "websocket routes reach the function", old: "  WsIntegration:\n    Type: AWS::ApiGatewayV2::Integration\n    Properties:\n      ApiId: !Ref WebSocketApi", new: "  WsIntegration:\n    Type: AWS::ApiGatewayV2::Integration\n    Properties:\n      ApiId: !Ref HttpApi", want: "integration WsIntegration belongs"},
	{check: "websocket routes reach the function", old: "DependsOn: [ConnectRoute, DefaultRoute, DisconnectRoute]", new: "DependsOn: [ConnectRoute, DefaultRoute]", want: "DependsOn"},
	{check: "websocket routes reach the function", old: "DeploymentId: !Ref WsDeployment", new: "DeploymentId: !Ref WsStage", want: "DeploymentId"},
	{check: "websocket routes reach the function", old: "      StageName: !Ref StageName\n      DeploymentId", new: "      StageName: prod\n      DeploymentId", want: "StageName"},
	{check: "websocket routes reach the function", old: "      Principal: apigateway.amazonaws.com\n      SourceArn: !Sub \"arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${StageName}/*\"", new: "      Principal: apigateway.amazonaws.com\n      SourceArn: !Sub \"arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:*/*\"", want: "permission"},
	{check: "websocket routes reach the function", old: "      FunctionName: !Ref SioFunction\n      Principal", new: "      FunctionName: !Ref SweeperFunction\n      Principal", want: "permission"},
	// HTTP API
	{check: "http api routes reach the function", old: "            Method: POST", new: "            Method: PUT", want: "POST"},
	{check: "http api routes reach the function", old: "            Method: OPTIONS", new: "            Method: DELETE", want: "OPTIONS"},
	{check: "http api routes reach the function", old: "            Method: GET\n            Path: /socket.io", new: "            Method: GET\n            Path: /engine.io", want: "GET"},
	{check: "http api routes reach the function", old: "            ApiId: !Ref HttpApi\n            Method: GET", new: "            ApiId: !Ref OtherApi\n            Method: GET", want: "GET"},
	{check: "http api routes reach the function", old: "            Method: POST\n            Path: /socket.io\n            PayloadFormatVersion: \"2.0\"", new: "            Method: POST\n            Path: /socket.io\n            PayloadFormatVersion: \"1.0\"", want: "PayloadFormatVersion"},
	{check: "http api routes reach the function", old: "      FailOnWarnings: true", new: "      FailOnWarnings: true\n      CorsConfiguration:\n        AllowOrigins: [\"*\"]", want: "CorsConfiguration"},
	{check: "http api routes reach the function", old: "      FailOnWarnings: true", new: "      FailOnWarnings: true\n      StageName: prod", want: "StageName"},
	// environment
	{check: "environment is lambdafn's", old: "        SIO_SWEEP_PASS: !Ref SweepPass\n", new: "", want: "SIO_SWEEP_PASS missing"},
	{check: "environment is lambdafn's", old: "        SIO_STORE: !Ref StoreBackend", new: "        SIO_STORE: !Ref StoreBackend\n        SIO_EXTRA: x", want: "SIO_EXTRA"},
	{check: "environment is lambdafn's", old: "        SIO_POLL_HOLD: !Ref PollHold", new: "        SIO_POLL_HOLD: !Ref PingInterval", want: "SIO_POLL_HOLD"},
	{check: "environment is lambdafn's", old: "/${StageName}\"\n        # Engine.IO", new: "\"\n        # Engine.IO", want: "SIO_APIGW_MANAGEMENT_ENDPOINT"},
	{check: "environment is lambdafn's", want: "lambdafn reads SIO_NEW", envNames: func(n []string) []string { return append(n, "SIO_NEW") }},
	{check: "environment is lambdafn's", want: "notSetInAWS lists SIO_LAMBDA_ENDPOINT", envNames: func(n []string) []string {
		return slices.DeleteFunc(n, func(s string) bool { return s == lambdafn.EnvLambdaEndpoint })
	}},
	{check: "environment is lambdafn's", want: "envSources lists SIO_SWEEP_PASS", envNames: func(n []string) []string {
		return slices.DeleteFunc(n, func(s string) bool { return s == lambdafn.EnvSweepPassEvery })
	}},
	{check: "environment is lambdafn's", old: "        SIO_POLL_BACKOFF: !Ref PollBackoff\n", new: "", want: "SIO_POLL_BACKOFF missing"},
	{check: "environment is lambdafn's", old: "        SIO_DYNAMODB_TABLE: !Ref SessionTable", new: "        SIO_DYNAMODB_TABLE: !Ref StageName", want: "SIO_DYNAMODB_TABLE is \"Ref StageName\""},
	{check: "environment is lambdafn's", old: "        SIO_DYNAMODB_TABLE: !Ref SessionTable", new: "        SIO_DYNAMODB_TABLE: !GetAtt SessionTable.Arn", want: "SIO_DYNAMODB_TABLE is \"Fn::GetAtt SessionTable.Arn\""},
	{check: "environment is lambdafn's", old: "      Timeout: 65\n", new: "      Timeout: 65\n      Environment:\n        Variables:\n          SIO_STORE: dynamodb\n", want: "SweeperFunction: SIO_STORE"},
	// store backend
	{check: "store defaults to dynamodb", old: "    Default: dynamodb\n    AllowedValues: [dynamodb, redis]", new: "    Default: redis\n    AllowedValues: [dynamodb, redis]", want: "StoreBackend default \"redis\""},
	{check: "store defaults to dynamodb", old: "    AllowedValues: [dynamodb, redis]", new: "    AllowedValues: [dynamodb]", want: "StoreBackend AllowedValues"},
	{check: "store defaults to dynamodb", old: "  SessionTable:\n    Type: AWS::DynamoDB::Table\n", new: "  SessionTable:\n    Type: AWS::DynamoDB::Table\n    Condition: UseVpc\n", want: "Condition UseVpc"},
	{check: "store defaults to dynamodb", old: "  SessionTable:\n    Type: AWS::DynamoDB::Table\n", new: "  SessionTableX:\n    Type: AWS::DynamoDB::Table\n", want: "resource SessionTable missing"},
	// table
	{check: "session table", old: "AttributeName: expires", new: "AttributeName: ttl", want: "TTL attribute"},
	{check: "session table", old: "        Enabled: true", new: "        Enabled: false", want: "TTL"},
	{check: "session table", old: "BillingMode: PAY_PER_REQUEST", new: "BillingMode: PROVISIONED", want: "BillingMode"},
	{check: "session table", old: "        - AttributeName: sk\n          KeyType: RANGE", new: "        - AttributeName: sk\n          KeyType: HASH", want: "key schema"},
	{check: "session table", old: "        - AttributeName: sk\n          AttributeType: S", new: "        - AttributeName: sk\n          AttributeType: N", want: "attribute definitions"},
	{check: "session table", old: "        - AttributeName: due\n          AttributeType: N", new: "        - AttributeName: due\n          AttributeType: S", want: "attribute definitions"},
	{check: "session table", old: "        - AttributeName: dp\n          AttributeType: S\n", new: "", want: "attribute definitions"},
	{check: "session table", old: "        - IndexName: due\n", new: "        - IndexName: deadline\n", want: "global secondary indexes [deadline]"},
	{check: "session table", old: "            - AttributeName: due\n              KeyType: RANGE", new: "            - AttributeName: sk\n              KeyType: RANGE", want: "index due key schema"},
	{check: "session table", old: "            - AttributeName: dp\n              KeyType: HASH", new: "            - AttributeName: pk\n              KeyType: HASH", want: "index due key schema"},
	{check: "session table", old: "            ProjectionType: INCLUDE\n            NonKeyAttributes: [dl, pd]", new: "            ProjectionType: ALL", want: "index due projection ALL"},
	{check: "session table", old: "            NonKeyAttributes: [dl, pd]", new: "            NonKeyAttributes: [dl]", want: "index due projects [dl]"},
	{check: "session table", old: "            NonKeyAttributes: [dl, pd]", new: "            NonKeyAttributes: [dl, pd, rooms]", want: "index due projects [dl pd rooms]"},
	{check: "session table", old: "            NonKeyAttributes: [dl, pd]\n", new: "            NonKeyAttributes: [dl, pd]\n        - IndexName: other\n          KeySchema:\n            - AttributeName: dp\n              KeyType: HASH\n          Projection:\n            ProjectionType: KEYS_ONLY\n", want: "global secondary indexes [due other]"},
	{check: "session table", old: "      GlobalSecondaryIndexes:\n", new: "      LocalSecondaryIndexes:\n        - IndexName: lsi\n          KeySchema:\n            - AttributeName: pk\n              KeyType: HASH\n            - AttributeName: due\n              KeyType: RANGE\n          Projection:\n            ProjectionType: KEYS_ONLY\n      GlobalSecondaryIndexes:\n", want: "local secondary indexes"},
	{check: "session table", old: "      TimeToLiveSpecification:\n        AttributeName: expires\n        Enabled: true\n", new: "", want: "no TimeToLiveSpecification"},
	// ManageConnections
	{check: "manage connections on this api only", old: "${WebSocketApi}/${StageName}/POST/@connections/*", new: "*/${StageName}/POST/@connections/*", want: "not this API's connections"},
	{check: "manage connections on this api only", old: "${WebSocketApi}/${StageName}/DELETE/@connections/*", new: "${WebSocketApi}/${StageName}/GET/@connections/*", want: "DELETE"},
	{check: "manage connections on this api only", old: "            Action: execute-api:ManageConnections", new: "            Action: execute-api:Invoke", want: "POST"},
	{check: "manage connections on this api only", old: "      Policies:\n        - PolicyName: sweeper", new: "      Policies:\n        - PolicyName: sweeper\n          PolicyDocument:\n            Version: \"2012-10-17\"\n            Statement:\n              - Effect: Allow\n                Action: execute-api:ManageConnections\n                Resource: !Sub \"arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:*/*/POST/@connections/*\"\n        - PolicyName: sweeper2", want: "not this API's connections"},
	{check: "manage connections on this api only", old: "      Role: !GetAtt SweeperRole.Arn", new: "      Role: !GetAtt SioLogGroup.Arn", want: "SweeperFunction Role SioLogGroup"},
	{check: "manage connections on this api only", old: "      ManagedPolicyArns:\n        - !Ref SessionAccessPolicy\n        - !If [UseVpc, !Sub \"arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole\", !Ref AWS::NoValue]\n      Policies:\n        - PolicyName: sweeper", new: "      ManagedPolicyArns:\n        - !If [UseVpc, !Sub \"arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole\", !Ref AWS::NoValue]\n      Policies:\n        - PolicyName: sweeper", want: "SweeperFunction cannot call the Management API"},
	// least privilege
	{check: "least privilege", old: "              - dynamodb:Query\n", new: "              - dynamodb:Query\n              - dynamodb:Scan\n", want: "dynamodb:Scan"},
	{check: "least privilege", old: "              - dynamodb:BatchWriteItem\n", new: "", want: "dynamodb:BatchWriteItem"},
	{check: "least privilege", old: "            Resource: !GetAtt SessionTable.Arn", new: "            Resource: \"*\"", want: "Resource *"},
	{check: "least privilege", old: "            Resource: !GetAtt SessionTable.Arn", new: "            Resource: !Sub \"${SessionTable.Arn}/index/*\"", want: "DynamoDB access on"},
	{check: "least privilege", old: "            Resource: !Sub \"${SessionTable.Arn}/index/due\"", new: "            Resource: !Sub \"${SessionTable.Arn}/index/*\"", want: "DynamoDB access on"},
	{check: "least privilege", old: "            Resource: !Sub \"${SessionTable.Arn}/index/due\"", new: "            Resource: !GetAtt SessionTable.Arn", want: "DynamoDB actions on index due []"},
	{check: "least privilege", old: "            Action: dynamodb:Query\n", new: "            Action: [dynamodb:Query, dynamodb:Scan]\n", want: "dynamodb:Scan"},
	{check: "least privilege", old: "            Action: dynamodb:Query\n", new: "            Action: [dynamodb:Query, dynamodb:GetItem]\n", want: "DynamoDB actions on index due [dynamodb:GetItem dynamodb:Query]"},
	{check: "least privilege", old: "              - dynamodb:BatchWriteItem\n            Resource: !GetAtt SessionTable.Arn", new: "              - dynamodb:BatchWriteItem\n            Resource: [!GetAtt SessionTable.Arn, !Sub \"${SessionTable.Arn}/index/due\"]", want: "DynamoDB actions on index due"},
	{check: "least privilege", old: "              - Sid: InvokeSelf\n                Effect: Allow", new: "              - Sid: InvokeSelf\n                Effect: Deny", want: "cannot invoke itself"},
	{check: "least privilege", old: "            Action: execute-api:ManageConnections", new: "            Action: execute-api:*", want: "wildcard"},
	{check: "least privilege", old: "function:${AWS::StackName}-sio\"", new: "function:*\"", want: "InvokeFunction"},
	{check: "least privilege", old: "FunctionName: !Sub \"${AWS::StackName}-sio\"", new: "FunctionName: !Sub \"${AWS::StackName}-socketio\"", want: "FunctionName"},
	{check: "least privilege", old: "                Resource: !GetAtt SweeperLogGroup.Arn", new: "                Resource: !GetAtt SweeperLogGroup.Arn\n              - Effect: Allow\n                Action: lambda:InvokeFunction\n                Resource: !Sub \"arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:${AWS::StackName}-sio\"", want: "SweeperFunction may not invoke"},
	{check: "least privilege", old: "                Resource: !GetAtt SioLogGroup.Arn", new: "                Resource: !GetAtt SweeperLogGroup.Arn", want: "log group"},
	{check: "least privilege", old: "      LogGroupName: !Sub \"/aws/lambda/${AWS::StackName}-sweeper\"", new: "      LogGroupName: !Sub \"/aws/lambda/${AWS::StackName}-other\"", want: "log group"},
	{check: "least privilege", old: "                Action: [logs:CreateLogStream, logs:PutLogEvents]\n                Resource: !GetAtt SioLogGroup.Arn", new: "                Action: [logs:CreateLogStream, logs:PutLogEvents, logs:DeleteLogGroup]\n                Resource: !GetAtt SioLogGroup.Arn", want: "logs:DeleteLogGroup"},
	{check: "least privilege", old: "      ManagedPolicyArns:\n        - !Ref SessionAccessPolicy\n        - !If [UseVpc, !Sub \"arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole\", !Ref AWS::NoValue]\n      Policies:\n        - PolicyName: sio", new: "      ManagedPolicyArns:\n        - !Ref SessionAccessPolicy\n        - !Sub \"arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole\"\n      Policies:\n        - PolicyName: sio", want: "without a VPC"},
	{check: "least privilege", old: "      ManagedPolicyArns:\n        - !Ref SessionAccessPolicy\n        - !If [UseVpc, !Sub \"arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole\", !Ref AWS::NoValue]\n      Policies:\n        - PolicyName: sweeper", new: "      ManagedPolicyArns:\n        - !Ref SessionAccessPolicy\n      Policies:\n        - PolicyName: sweeper", want: "in a VPC"},
	{check: "least privilege", old: "      Role: !GetAtt SioRole.Arn", new: "      Policies: [AWSLambdaBasicExecutionRole]", want: "Role"},
	// VPC
	{check: "vpc only with subnets", old: "  UseVpc: !Not [!Equals [!Join [\"\", !Ref SubnetIds], \"\"]]", new: "  UseVpc: !Equals [!Ref StageName, prod]", want: "without SubnetIds"},
	{check: "vpc only with subnets", old: "        SecurityGroupIds: !Ref SecurityGroupIds\n      - !Ref AWS::NoValue", new: "        SecurityGroupIds: !Ref SubnetIds\n      - !Ref AWS::NoValue", want: "SecurityGroupIds"},
	{check: "vpc only with subnets", old: "      - SubnetIds: !Ref SubnetIds", new: "      - SubnetIds: [subnet-x]", want: "SubnetIds"},
	// schedule
	{check: "sweeper schedule", old: "Schedule: rate(1 minute)", new: "Schedule: rate(5 minutes)", want: "rate(1 minute)"},
	{check: "sweeper schedule", old: `Input: '{"sio":"sweep"}'`, new: `Input: '{"sio":"open"}'`, want: "Input"},
	{check: "sweeper schedule", old: "        Sweep:\n          Type: Schedule", new: "        Sweep:\n          Type: HttpApi", want: "one Schedule event"},
	{check: "sweeper schedule", old: "      Timeout: 65", new: "      Timeout: 30", want: "Timeout"},
	// goformation does not know every SAM property: an unknown one makes the event unreadable.
	{check: "sweeper schedule", old: "            Schedule: rate(1 minute)", new: "            Schedule: rate(1 minute)\n            State: ENABLED", want: "not a schedule event"},
	// timeouts
	{check: "timeouts", old: "      Timeout: 30\n", new: "      Timeout: 65\n", want: "SioFunction Timeout"},
	{check: "timeouts", old: "  PollHold:\n    Type: String\n    Default: 25s", new: "  PollHold:\n    Type: String\n    Default: 29s", want: "PollHold"},
	{check: "timeouts", old: "    Default: 20s", new: "    Default: twenty", want: "PingTimeout"},
	{check: "timeouts", old: "    Default: 1s\n", new: "    Default: 0s\n", want: "PollBackoff"},
	{check: "timeouts", old: "      TimeoutInMillis: 29000", new: "      TimeoutInMillis: 30000", want: "WsIntegration"},
	{check: "timeouts", old: "            Method: GET\n            Path: /socket.io\n            PayloadFormatVersion: \"2.0\"\n            TimeoutInMillis: 30000", new: "            Method: GET\n            Path: /socket.io\n            PayloadFormatVersion: \"2.0\"\n            TimeoutInMillis: 31000", want: "TimeoutInMillis 31000"},
	// build
	{check: "build", old: "      BuildMethod: makefile # the same binary", new: "      BuildMethod: go1.x # the same binary", want: "BuildMethod"},
	{check: "build", old: "Runtime: provided.al2023", new: "Runtime: provided.al2", want: "Runtime"},
	{check: "build", old: "Handler: bootstrap", new: "Handler: main", want: "Handler"},
	{check: "build", old: "Architectures: [arm64]", new: "Architectures: [x86_64]", want: "GOARCH=amd64"},
	{check: "build", old: "MemorySize: 256", new: "MemorySize: 128", want: "MemorySize"},
	{check: "build", makefile: true, old: "build-SioFunction build-SweeperFunction:", new: "build-SioFunction:", want: "build-SweeperFunction"},
	{check: "build", makefile: true, old: "-tags lambda.norpc ", new: "", want: "lambda.norpc"},
	{check: "build", makefile: true, old: "LAMBDA_PKG := ./cmd/lambda", new: "LAMBDA_PKG := ./cmd/local", want: "./cmd/lambda"},
	{check: "build", makefile: true, old: "-o $(ARTIFACTS_DIR)/bootstrap", new: "-o $(ARTIFACTS_DIR)/main", want: "bootstrap"},
	{check: "build", makefile: true, old: "GOOS=linux ", new: "", want: "GOOS=linux"},
	// outputs
	{check: "outputs", old: "execute-api.${AWS::Region}.${AWS::URLSuffix}/socket.io/\"", new: "execute-api.${AWS::Region}.${AWS::URLSuffix}/socket.io\"", want: "PollingUrl"},
	{check: "outputs", old: "    Value: !Sub \"wss://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}\"", new: "    Value: !Sub \"wss://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}\"", want: "WebSocketUrl"},
	{check: "outputs", old: "    Value: !Ref SessionTable", new: "    Value: !GetAtt SessionTable.Arn", want: "TableName"},
	{check: "outputs", old: "  FunctionName:\n    Description: The function serving HTTP API and WebSocket requests\n    Value: !Ref SioFunction", new: "  FunctionName:\n    Description: The function serving HTTP API and WebSocket requests\n    Value: !Ref SweeperFunction", want: "FunctionName"},
}

// ---------------------------------------------------------------- the checks

func checkWebSocket(r *report, in inputs) {
	tpl := load(r, in, nil)
	if tpl == nil {
		return
	}
	api, ok := get[*apigatewayv2.Api](r, tpl, webSocketAPI)
	if !ok {
		return
	}
	if str(api.ProtocolType) != "WEBSOCKET" {
		r.errorf("%s ProtocolType %q, want WEBSOCKET", webSocketAPI, str(api.ProtocolType))
	}
	if str(api.RouteSelectionExpression) != "$request.body.action" {
		r.errorf("%s RouteSelectionExpression %q, want $request.body.action", webSocketAPI, str(api.RouteSelectionExpression))
	}
	routes := map[string]string{} // route key → logical id
	for id, rt := range all[*apigatewayv2.Route](tpl) {
		if ref(rt.ApiId) != webSocketAPI {
			continue
		}
		if prev, dup := routes[rt.RouteKey]; dup {
			r.errorf("route key %s twice (%s, %s)", rt.RouteKey, prev, id)
		}
		routes[rt.RouteKey] = id
	}
	var routeIDs []string
	for _, key := range []string{"$connect", "$default", "$disconnect"} {
		id, ok := routes[key]
		if !ok {
			r.errorf("%s has no route %s", webSocketAPI, key)
			continue
		}
		routeIDs = append(routeIDs, id)
		rt := tpl.Resources[id].(*apigatewayv2.Route)
		m := regexp.MustCompile(`^integrations/\$\{([A-Za-z0-9]+)\}$`).FindStringSubmatch(subOf(rt.Target))
		if m == nil {
			r.errorf("route %s: Target %q, want !Sub integrations/${<Integration>}", key, describe(rt.Target))
			continue
		}
		res, ok := tpl.Resources[m[1]]
		if !ok {
			r.errorf("route %s targets %s, which does not exist", key, m[1])
			continue
		}
		integ, ok := res.(*apigatewayv2.Integration)
		if !ok {
			r.errorf("route %s targets %s, which is not an integration but %s", key, m[1], res.AWSCloudFormationType())
			continue
		}
		if ref(integ.ApiId) != webSocketAPI {
			r.errorf("integration %s belongs to %q, not %s", m[1], describe(integ.ApiId), webSocketAPI)
		}
		if integ.IntegrationType != "AWS_PROXY" {
			r.errorf("integration %s IntegrationType %q, want AWS_PROXY", m[1], integ.IntegrationType)
		}
		want := "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${" + sioFunction + ".Arn}/invocations"
		if subOf(integ.IntegrationUri) != want {
			r.errorf("integration %s IntegrationUri %q, want !Sub %q", m[1], describe(integ.IntegrationUri), want)
		}
	}
	if len(routes) != 3 {
		r.errorf("%s has routes %v, want exactly $connect, $default, $disconnect", webSocketAPI, slices.Sorted(maps.Keys(routes)))
	}
	// The deployment must come after every route, and the stage must serve it.
	deployments := map[string]*apigatewayv2.Deployment{}
	for id, d := range all[*apigatewayv2.Deployment](tpl) {
		if ref(d.ApiId) == webSocketAPI {
			deployments[id] = d
		}
	}
	if len(deployments) != 1 {
		r.errorf("%d deployments of %s, want 1", len(deployments), webSocketAPI)
	}
	for id, d := range deployments {
		for _, rid := range routeIDs {
			if !slices.Contains(d.AWSCloudFormationDependsOn, rid) {
				r.errorf("deployment %s: DependsOn %v lacks route %s", id, d.AWSCloudFormationDependsOn, rid)
			}
		}
		stages := 0
		for sid, s := range all[*apigatewayv2.Stage](tpl) {
			if ref(s.ApiId) != webSocketAPI {
				continue
			}
			stages++
			if ref(s.DeploymentId) != id {
				r.errorf("stage %s: DeploymentId %q, want Ref %s", sid, describe(s.DeploymentId), id)
			}
			if ref(s.StageName) != "StageName" {
				r.errorf("stage %s: StageName %q, want Ref StageName (the management endpoint and the outputs use it)", sid, describe(s.StageName))
			}
		}
		if stages != 1 {
			r.errorf("%d stages of %s, want 1", stages, webSocketAPI)
		}
	}
	// API Gateway may invoke the function for this API (and the permission names it).
	prefix := "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${" + webSocketAPI + "}/"
	found := false
	for id, p := range all[*lambda.Permission](tpl) {
		if p.Principal != "apigateway.amazonaws.com" || !strings.HasPrefix(subOf(p.SourceArn), prefix) {
			continue
		}
		if ref(p.FunctionName) != sioFunction && getAttOf(p.FunctionName) != sioFunction+".Arn" {
			r.errorf("permission %s for %s is on %q, not %s", id, webSocketAPI, describe(p.FunctionName), sioFunction)
			continue
		}
		if p.Action != "lambda:InvokeFunction" {
			r.errorf("permission %s: Action %q", id, p.Action)
			continue
		}
		found = true
	}
	if !found {
		r.errorf("no lambda permission lets apigateway.amazonaws.com invoke %s with SourceArn %s...", sioFunction, prefix)
	}
}

func checkHTTPAPI(r *report, in inputs) {
	tpl := load(r, in, nil)
	if tpl == nil {
		return
	}
	api, ok := get[*serverless.HttpApi](r, tpl, httpAPI)
	if !ok {
		return
	}
	if api.CorsConfiguration != nil {
		r.errorf("%s has a CorsConfiguration: API Gateway would answer preflights and override the function's CORS headers (SIO_CORS_ORIGINS)", httpAPI)
	}
	if s := str(api.StageName); s != "" && s != "$default" {
		r.errorf("%s StageName %q: the $default stage keeps /socket.io/ at the root (PollingUrl, rawPath)", httpAPI, s)
	}
	reach := map[string][]string{} // method → functions it reaches at /socket.io
	for fid, fn := range all[*serverless.Function](tpl) {
		for eid, ev := range fn.Events {
			if ev.Type != "HttpApi" || ev.Properties == nil || ev.Properties.HttpApiEvent == nil {
				continue
			}
			e := ev.Properties.HttpApiEvent
			if ref(e.ApiId) != httpAPI || strings.TrimSuffix(str(e.Path), "/") != "/socket.io" {
				continue
			}
			method := strings.ToUpper(str(e.Method))
			reach[method] = append(reach[method], fid)
			if v := str(e.PayloadFormatVersion); v != "2.0" {
				r.errorf("%s event %s: PayloadFormatVersion %q, want \"2.0\"", fid, eid, v)
			}
		}
	}
	for _, method := range []string{"GET", "POST", "OPTIONS"} {
		if fns := reach[method]; len(fns) != 1 || fns[0] != sioFunction {
			r.errorf("%s %s /socket.io reaches %v, want [%s]", httpAPI, method, fns, sioFunction)
		}
	}
}

func checkEnvironment(r *report, in inputs) {
	tpl := load(r, in, nil)
	if tpl == nil {
		return
	}
	// The contract itself: envSources + notSetInAWS is exactly what lambdafn reads.
	for name := range notSetInAWS {
		if !slices.Contains(in.envNames, name) {
			r.errorf("notSetInAWS lists %s, which lambdafn no longer reads", name)
		}
	}
	for _, name := range in.envNames {
		_, set := envSources[name]
		_, unset := notSetInAWS[name]
		if set == unset {
			r.errorf("lambdafn reads %s: list it in envSources (set by the template) or notSetInAWS (with a reason)", name)
		}
	}
	for name := range envSources {
		if !slices.Contains(in.envNames, name) {
			r.errorf("envSources lists %s, which lambdafn does not read", name)
		}
	}
	fns := all[*serverless.Function](tpl)
	if len(fns) == 0 {
		r.errorf("no functions")
	}
	for _, fid := range slices.Sorted(maps.Keys(fns)) {
		env := environment(tpl, fns[fid])
		for _, name := range slices.Sorted(maps.Keys(envSources)) {
			v, ok := env[name]
			if !ok {
				r.errorf("%s: %s missing", fid, name)
				continue
			}
			if got := describe(v); got != envSources[name] {
				r.errorf("%s: %s is %q, want %q", fid, name, got, envSources[name])
			}
		}
		for _, name := range slices.Sorted(maps.Keys(env)) {
			if _, ok := envSources[name]; ok {
				continue
			}
			if why, ok := notSetInAWS[name]; ok {
				r.errorf("%s: %s is set, but it is meant to stay unset in AWS: %s", fid, name, why)
			} else {
				r.errorf("%s: %s is set, but lambdafn does not read it", fid, name)
			}
		}
	}
}

func checkTable(r *report, in inputs) {
	tpl := load(r, in, nil)
	if tpl == nil {
		return
	}
	tbl, ok := get[*dynamodb.Table](r, tpl, sessionTable)
	if !ok {
		return
	}
	if str(tbl.BillingMode) != "PAY_PER_REQUEST" {
		r.errorf("BillingMode %q, want PAY_PER_REQUEST", str(tbl.BillingMode))
	}
	ttl := tbl.TimeToLiveSpecification
	switch {
	case ttl == nil:
		r.errorf("no TimeToLiveSpecification")
	case str(ttl.AttributeName) != "expires":
		r.errorf("TTL attribute %q, want expires", str(ttl.AttributeName))
	case !ttl.Enabled:
		r.errorf("TTL on expires is not enabled")
	}
	var keys []string
	for _, k := range tbl.KeySchema {
		keys = append(keys, k.AttributeName+" "+k.KeyType)
	}
	if !slices.Equal(keys, []string{"pk HASH", "sk RANGE"}) {
		r.errorf("key schema %v, want [pk HASH sk RANGE]", keys)
	}
	attrs := map[string]string{}
	for _, a := range tbl.AttributeDefinitions {
		attrs[a.AttributeName] = a.AttributeType
	}
	if !maps.Equal(attrs, map[string]string{"pk": "S", "sk": "S", "dp": "S", "due": "N"}) {
		r.errorf("attribute definitions %v, want pk S, sk S, dp S, due N", attrs)
	}
	if len(tbl.LocalSecondaryIndexes) > 0 {
		r.errorf("local secondary indexes %d, want none", len(tbl.LocalSecondaryIndexes))
	}
	// One global index, due: sessions by shard (dp, "d#<n>") and due time, projecting the
	// deadline (dl) and the ping due time (pd). The store queries it by that name.
	var names []string
	for _, g := range tbl.GlobalSecondaryIndexes {
		names = append(names, g.IndexName)
	}
	if !slices.Equal(names, []string{dueIndex}) {
		r.errorf("global secondary indexes %v, want [%s]", names, dueIndex)
	}
	for _, g := range tbl.GlobalSecondaryIndexes {
		if g.IndexName != dueIndex {
			continue
		}
		var keys []string
		for _, k := range g.KeySchema {
			keys = append(keys, k.AttributeName+" "+k.KeyType)
		}
		if !slices.Equal(keys, []string{"dp HASH", "due RANGE"}) {
			r.errorf("index %s key schema %v, want [dp HASH due RANGE]", dueIndex, keys)
		}
		var typ string
		var nonKey []string
		if g.Projection != nil {
			typ = str(g.Projection.ProjectionType)
			nonKey = slices.Sorted(slices.Values(g.Projection.NonKeyAttributes))
		}
		if typ != "INCLUDE" {
			r.errorf("index %s projection %s, want INCLUDE [dl pd]", dueIndex, typ)
		}
		if !slices.Equal(nonKey, []string{"dl", "pd"}) {
			r.errorf("index %s projects %v, want [dl pd]", dueIndex, nonKey)
		}
	}
}

func checkStore(r *report, in inputs) {
	tpl := load(r, in, nil)
	if tpl == nil {
		return
	}
	// DynamoDB is the default, Redis the option (SIO_STORE is Ref StoreBackend: envSources).
	if p, ok := tpl.Parameters["StoreBackend"]; !ok {
		r.errorf("parameter StoreBackend missing")
	} else {
		if p.Type != "String" {
			r.errorf("StoreBackend Type %s, want String", p.Type)
		}
		if d := fmt.Sprint(p.Default); d != "dynamodb" {
			r.errorf("StoreBackend default %q, want \"dynamodb\"", d)
		}
		var allowed []string
		for _, v := range p.AllowedValues {
			allowed = append(allowed, fmt.Sprint(v))
		}
		if slices.Sort(allowed); !slices.Equal(allowed, []string{"dynamodb", "redis"}) {
			r.errorf("StoreBackend AllowedValues %v, want dynamodb and redis", allowed)
		}
	}
	// The table exists whatever StoreBackend says: SIO_DYNAMODB_TABLE, the IAM policy and the
	// TableName output name it unconditionally.
	if tbl, ok := get[*dynamodb.Table](r, tpl, sessionTable); ok && tbl.AWSCloudFormationCondition != "" {
		r.errorf("%s has Condition %s: it must exist whenever StoreBackend is dynamodb, and the environment, IAM and outputs name it unconditionally", sessionTable, tbl.AWSCloudFormationCondition)
	}
}

func checkManageConnections(r *report, in inputs) {
	tpl := load(r, in, nil)
	if tpl == nil {
		return
	}
	// Wherever ManageConnections is granted, it is on this API's connections only.
	methods := map[string]bool{}
	for _, s := range allStatements(tpl) {
		if !grants(s, "execute-api:ManageConnections") {
			continue
		}
		for _, res := range s.resources {
			m := manageConnectionsARN.FindStringSubmatch(subOf(res))
			if m == nil {
				r.errorf("%s: execute-api:ManageConnections on %q: not this API's connections (want %s)", s.where, describe(res), manageConnectionsARN)
				continue
			}
			methods[m[1]] = true
		}
	}
	for _, m := range []string{"POST", "DELETE"} {
		if !methods[m] {
			r.errorf("no statement grants ManageConnections for %s (%s)", m, map[string]string{"POST": "PostToConnection", "DELETE": "DeleteConnection"}[m])
		}
	}
	// And both functions have it.
	for _, fid := range []string{sioFunction, sweeperFunction} {
		stmts, ok := functionStatements(r, tpl, fid)
		if !ok {
			continue
		}
		if !slices.ContainsFunc(stmts, func(s statement) bool { return grants(s, "execute-api:ManageConnections") }) {
			r.errorf("%s cannot call the Management API", fid)
		}
	}
}

func checkLeastPrivilege(r *report, in inputs) {
	tpl := load(r, in, nil)
	if tpl == nil {
		return
	}
	for _, s := range allStatements(tpl) {
		for _, a := range s.actions {
			if strings.Contains(a, "*") {
				r.errorf("%s: wildcard action %s", s.where, a)
			}
		}
		for _, res := range s.resources {
			if res == "*" {
				r.errorf("%s: Resource * for %v", s.where, s.actions)
			}
		}
	}
	for _, fid := range []string{sioFunction, sweeperFunction} {
		fn, ok := get[*serverless.Function](r, tpl, fid)
		if !ok {
			continue
		}
		stmts, ok := functionStatements(r, tpl, fid)
		if !ok {
			continue
		}
		var onTable, onIndex []string // DynamoDB actions granted on the table, on the due index
		for _, s := range stmts {
			var dyn []string
			for _, a := range s.actions {
				if !slices.Contains(allowedActions, a) {
					r.errorf("%s: %s grants %s", fid, s.where, a)
				}
				if strings.HasPrefix(a, "dynamodb:") {
					dyn = append(dyn, a)
				}
			}
			if len(dyn) > 0 {
				for _, res := range s.resources {
					switch {
					case getAttOf(res) == sessionTable+".Arn":
						onTable = append(onTable, dyn...)
					case subOf(res) == dueIndexARN:
						onIndex = append(onIndex, dyn...)
					default:
						r.errorf("%s: DynamoDB access on %q, want only %s and !Sub %s", fid, describe(res), sessionTable, dueIndexARN)
					}
				}
			}
			if grantsPrefix(s, "logs:") {
				for _, res := range s.resources {
					lg, _ := strings.CutSuffix(getAttOf(res), ".Arn")
					group, ok := tpl.Resources[lg].(*logs.LogGroup)
					want := "/aws/lambda/" + subOf(fn.FunctionName)
					if !ok || subOf(group.LogGroupName) != want {
						r.errorf("%s: logs on %q, want the log group named !Sub %s", fid, describe(res), want)
					}
				}
			}
			if grants(s, "lambda:InvokeFunction") {
				if fid != sioFunction {
					r.errorf("%s may not invoke functions (%s)", fid, s.where)
					continue
				}
				want := "arn:${AWS::Partition}:lambda:${AWS::Region}:${AWS::AccountId}:function:" + subOf(fn.FunctionName)
				for _, res := range s.resources {
					if subOf(res) != want {
						r.errorf("%s: lambda:InvokeFunction on %q, want itself only (!Sub %s)", fid, describe(res), want)
					}
				}
			}
		}
		slices.Sort(onTable)
		if onTable = slices.Compact(onTable); !slices.Equal(onTable, dynamoActions) {
			r.errorf("%s: DynamoDB actions on the table %v, want %v", fid, onTable, dynamoActions)
		}
		slices.Sort(onIndex)
		if onIndex = slices.Compact(onIndex); !slices.Equal(onIndex, dynamoIndexActions) {
			r.errorf("%s: DynamoDB actions on index %s %v, want %v", fid, dueIndex, onIndex, dynamoIndexActions)
		}
		if fid == sioFunction {
			if got := subOf(fn.FunctionName); got != "${AWS::StackName}-sio" {
				r.errorf("%s FunctionName %q, want !Sub ${AWS::StackName}-sio (its role names it)", fid, describe(fn.FunctionName))
			}
			if !slices.ContainsFunc(stmts, func(s statement) bool { return grants(s, "lambda:InvokeFunction") }) {
				r.errorf("%s cannot invoke itself (the open event)", fid)
			}
		}
		// AWS-managed policies: the VPC one, and only inside a VPC.
		for _, params := range []map[string]any{nil, vpcParams} {
			vtpl := load(r, in, params)
			if vtpl == nil {
				return
			}
			var managed []string
			if role, ok := roleOf(r, vtpl, fid); ok {
				for _, arn := range role.ManagedPolicyArns {
					if s := subOf(arn); s != "" {
						managed = append(managed, s)
					}
				}
			}
			var want []string
			where := "without a VPC"
			if params != nil {
				want = []string{"arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"}
				where = "in a VPC"
			}
			if !slices.Equal(managed, want) {
				r.errorf("%s %s: AWS managed policies %v, want %v", fid, where, managed, want)
			}
		}
	}
}

func checkVPC(r *report, in inputs) {
	for _, params := range []map[string]any{nil, vpcParams} {
		tpl := load(r, in, params)
		if tpl == nil {
			return
		}
		for _, fid := range []string{sioFunction, sweeperFunction} {
			fn, ok := get[*serverless.Function](r, tpl, fid)
			if !ok {
				continue
			}
			vpc := fn.VpcConfig
			if g := globalFunction(tpl); vpc == nil && g != nil {
				vpc = g.VpcConfig
			}
			if params == nil {
				if vpc != nil {
					r.errorf("%s has a VpcConfig without SubnetIds: %+v", fid, vpc)
				}
				continue
			}
			if vpc == nil {
				r.errorf("%s has no VpcConfig with SubnetIds set", fid)
				continue
			}
			if !slices.Equal(vpc.SubnetIds, []string{"subnet-1", "subnet-2"}) {
				r.errorf("%s VpcConfig SubnetIds %v, want the SubnetIds parameter", fid, vpc.SubnetIds)
			}
			if !slices.Equal(vpc.SecurityGroupIds, []string{"sg-1"}) {
				r.errorf("%s VpcConfig SecurityGroupIds %v, want the SecurityGroupIds parameter", fid, vpc.SecurityGroupIds)
			}
		}
	}
}

func checkSchedule(r *report, in inputs) {
	tpl := load(r, in, nil)
	if tpl == nil {
		return
	}
	var found []string
	for fid, fn := range all[*serverless.Function](tpl) {
		for eid, ev := range fn.Events {
			if ev.Type != "Schedule" {
				continue
			}
			found = append(found, fid+"."+eid)
			if ev.Properties == nil || ev.Properties.ScheduleEvent == nil {
				r.errorf("%s.%s: not a schedule event", fid, eid)
				continue
			}
			s := ev.Properties.ScheduleEvent
			if s.Schedule != "rate(1 minute)" {
				r.errorf("%s.%s: Schedule %q, want rate(1 minute)", fid, eid, s.Schedule)
			}
			var input map[string]any
			if err := json.Unmarshal([]byte(str(s.Input)), &input); err != nil || !maps.Equal(input, map[string]any{"sio": "sweep"}) {
				r.errorf("%s.%s: Input %q, want {\"sio\":\"sweep\"}", fid, eid, str(s.Input))
			}
			// One invocation sweeps through its minute: it must be allowed to last it.
			if t := timeout(tpl, fn); t < 60 || t > 900 {
				r.errorf("%s Timeout %d s: the sweeper runs through its minute, want 60..900", fid, t)
			}
		}
	}
	if len(found) != 1 {
		r.errorf("Schedule events %v, want one Schedule event", found)
	}
}

func checkTimeouts(r *report, in inputs) {
	tpl := load(r, in, nil)
	if tpl == nil {
		return
	}
	durations := map[string]time.Duration{}
	for _, p := range []string{"PingInterval", "PingTimeout", "WsPingInterval", "PollHold", "PollBackoff", "ConnectTimeout", "SweepPass"} {
		param, ok := tpl.Parameters[p]
		if !ok {
			r.errorf("parameter %s missing", p)
			continue
		}
		d, err := time.ParseDuration(fmt.Sprint(param.Default))
		if err != nil || d <= 0 {
			r.errorf("parameter %s default %v is not a positive Go duration", p, param.Default)
		}
		durations[p] = d
	}
	hold := durations["PollHold"]
	if hold > handler.MaxPollHold {
		r.errorf("parameter PollHold default %s exceeds handler.MaxPollHold %s", hold, handler.MaxPollHold)
	}
	if fn, ok := get[*serverless.Function](r, tpl, sioFunction); ok {
		// API Gateway gives up at 30 s: a longer Lambda timeout only bills a hung request.
		if t := time.Duration(timeout(tpl, fn)) * time.Second; t > 30*time.Second || t <= hold {
			r.errorf("%s Timeout %s, want above PollHold (%s) and at most 30s", sioFunction, t, hold)
		}
		for eid, ev := range fn.Events {
			if ev.Properties != nil && ev.Properties.HttpApiEvent != nil {
				if ms := ev.Properties.HttpApiEvent.TimeoutInMillis; ms != nil && (*ms > 30000 || time.Duration(*ms)*time.Millisecond <= hold) {
					r.errorf("%s.%s TimeoutInMillis %d, want above PollHold and at most 30000", sioFunction, eid, *ms)
				}
			}
		}
	}
	for id, integ := range all[*apigatewayv2.Integration](tpl) {
		if ms := integ.TimeoutInMillis; ms != nil && *ms > 29000 {
			r.errorf("%s TimeoutInMillis %d, WebSocket APIs allow at most 29000", id, *ms)
		}
	}
}

func checkBuild(r *report, in inputs) {
	tpl := load(r, in, nil)
	if tpl == nil {
		return
	}
	g := globalFunction(tpl)
	makefile := filepath.Join(in.dir, "Makefile")
	if err := os.WriteFile(makefile, in.makefile, 0o644); err != nil {
		r.errorf("%v", err)
		return
	}
	fns := all[*serverless.Function](tpl)
	for _, fid := range slices.Sorted(maps.Keys(fns)) {
		fn := fns[fid]
		if m := fmt.Sprint(fn.AWSCloudFormationMetadata["BuildMethod"]); m != "makefile" {
			r.errorf("%s Metadata BuildMethod %q, want makefile", fid, m)
		}
		runtime, entry, arch, mem := str(fn.Runtime), str(fn.Handler), fn.Architectures, fn.MemorySize
		if g != nil {
			if runtime == "" {
				runtime = str(g.Runtime)
			}
			if entry == "" {
				entry = str(g.Handler)
			}
			if arch == nil && g.Architectures != nil {
				arch = *g.Architectures
			}
			if mem == nil {
				mem = g.MemorySize
			}
		}
		if runtime != "provided.al2023" {
			r.errorf("%s Runtime %q, want provided.al2023", fid, runtime)
		}
		if entry != "bootstrap" {
			r.errorf("%s Handler %q, want bootstrap", fid, entry)
		}
		if mem == nil || *mem != 256 {
			r.errorf("%s MemorySize %v, want 256", fid, describe(mem))
		}
		goarch := map[string]string{"arm64": "arm64", "x86_64": "amd64"}
		if len(arch) != 1 || goarch[arch[0]] == "" {
			r.errorf("%s Architectures %v, want one of arm64, x86_64", fid, arch)
			continue
		}
		// What `sam build` runs for this function (make -n prints it without running it).
		cmd := exec.Command("make", "-n", "-f", makefile, "build-"+fid, "ARTIFACTS_DIR=/artifacts")
		cmd.Dir = in.dir
		cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, "GOARCH=") || strings.HasPrefix(kv, "GOOS=") || strings.HasPrefix(kv, "MAKEFLAGS=")
		})
		out, err := cmd.CombinedOutput()
		if execErr, ok := err.(*exec.Error); ok {
			r.errorf("make is needed to check the build: %v", execErr)
			return
		}
		if err != nil {
			r.errorf("make build-%s: %v: %s", fid, err, out)
			continue
		}
		recipe := string(out)
		for _, want := range []string{
			"GOOS=linux", "GOARCH=" + goarch[arch[0]], "CGO_ENABLED=0", " build ", "-tags lambda.norpc",
			"-trimpath", "-s -w", "-o /artifacts/bootstrap", " ./cmd/lambda",
		} {
			if !strings.Contains(recipe, want) {
				r.errorf("make build-%s runs %q: %q missing (Architectures %v)", fid, strings.TrimSpace(recipe), want, arch)
			}
		}
	}
}

func checkOutputs(r *report, in inputs) {
	tpl := load(r, in, nil)
	if tpl == nil {
		return
	}
	want := map[string]string{
		"PollingUrl":   "Fn::Sub https://${" + httpAPI + "}.execute-api.${AWS::Region}.${AWS::URLSuffix}/socket.io/",
		"WebSocketUrl": "Fn::Sub wss://${" + webSocketAPI + "}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${StageName}",
		"TableName":    "Ref " + sessionTable,
		"FunctionName": "Ref " + sioFunction,
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		out, ok := tpl.Outputs[name]
		if !ok {
			r.errorf("output %s missing", name)
			continue
		}
		if got := describe(out.Value); got != want[name] {
			r.errorf("output %s is %q, want %q", name, got, want[name])
		}
	}
}

// ---------------------------------------------------------------- IAM

// statement is one IAM policy statement, with where it comes from.
type statement struct {
	where     string
	actions   []string
	resources []any // strings: literal ARNs, or kept intrinsics (see describe)
}

func grants(s statement, action string) bool { return slices.Contains(s.actions, action) }

func grantsPrefix(s statement, prefix string) bool {
	return slices.ContainsFunc(s.actions, func(a string) bool { return strings.HasPrefix(a, prefix) })
}

func statementsOf(where string, doc any) []statement {
	m, _ := doc.(map[string]any)
	var list []any
	switch st := m["Statement"].(type) {
	case []any:
		list = st
	case map[string]any:
		list = []any{st}
	}
	var out []statement
	for i, raw := range list {
		s, _ := raw.(map[string]any)
		if s["Effect"] != "Allow" {
			continue
		}
		st := statement{where: fmt.Sprintf("%s statement %d", where, i)}
		if sid, ok := s["Sid"].(string); ok {
			st.where = where + " " + sid
		}
		for _, a := range listOf(s["Action"]) {
			st.actions = append(st.actions, fmt.Sprint(a))
		}
		st.resources = listOf(s["Resource"])
		out = append(out, st)
	}
	return out
}

func listOf(v any) []any {
	if l, ok := v.([]any); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []any{v}
}

// allStatements returns every Allow statement of every role and managed policy.
func allStatements(tpl *cloudformation.Template) []statement {
	var out []statement
	for id, role := range all[*iam.Role](tpl) {
		for _, p := range role.Policies {
			out = append(out, statementsOf(id+"/"+p.PolicyName, p.PolicyDocument)...)
		}
	}
	for id, p := range all[*iam.ManagedPolicy](tpl) {
		out = append(out, statementsOf(id, p.PolicyDocument)...)
	}
	return out
}

// roleOf returns the template role a function runs with.
func roleOf(r *report, tpl *cloudformation.Template, fid string) (*iam.Role, bool) {
	fn, ok := get[*serverless.Function](r, tpl, fid)
	if !ok {
		return nil, false
	}
	if fn.Policies != nil {
		r.errorf("%s has SAM Policies: give it permissions through its Role instead", fid)
	}
	id, ok := strings.CutSuffix(getAttOf(fn.Role), ".Arn")
	if !ok {
		r.errorf("%s Role %q, want !GetAtt <Role>.Arn of a role in the template", fid, describe(fn.Role))
		return nil, false
	}
	role, ok := tpl.Resources[id].(*iam.Role)
	if !ok {
		r.errorf("%s Role %s is not an AWS::IAM::Role", fid, id)
	}
	return role, ok
}

// functionStatements returns the statements a function's role grants: its inline policies and
// the template's managed policies attached to it.
func functionStatements(r *report, tpl *cloudformation.Template, fid string) ([]statement, bool) {
	role, ok := roleOf(r, tpl, fid)
	if !ok {
		return nil, false
	}
	var out []statement
	for _, p := range role.Policies {
		out = append(out, statementsOf(fid+" role/"+p.PolicyName, p.PolicyDocument)...)
	}
	for _, arn := range role.ManagedPolicyArns {
		if mp, ok := tpl.Resources[ref(arn)].(*iam.ManagedPolicy); ok {
			out = append(out, statementsOf(ref(arn), mp.PolicyDocument)...)
		}
	}
	return out, true
}

// ---------------------------------------------------------------- template access

func get[T cloudformation.Resource](r *report, tpl *cloudformation.Template, id string) (T, bool) {
	var zero T
	res, ok := tpl.Resources[id]
	if !ok {
		r.errorf("resource %s missing", id)
		return zero, false
	}
	v, ok := res.(T)
	if !ok {
		r.errorf("resource %s is a %s, want %s", id, res.AWSCloudFormationType(), zero.AWSCloudFormationType())
	}
	return v, ok
}

func all[T cloudformation.Resource](tpl *cloudformation.Template) map[string]T {
	out := map[string]T{}
	for id, res := range tpl.Resources {
		if v, ok := res.(T); ok {
			out[id] = v
		}
	}
	return out
}

func globalFunction(tpl *cloudformation.Template) *global.Function {
	g, _ := tpl.Globals["Function"].(*global.Function)
	return g
}

// environment is a function's environment as SAM builds it: Globals, then the function's own.
func environment(tpl *cloudformation.Template, fn *serverless.Function) map[string]string {
	env := map[string]string{}
	if g := globalFunction(tpl); g != nil && g.Environment != nil {
		maps.Copy(env, g.Environment.Variables)
	}
	if fn.Environment != nil {
		maps.Copy(env, fn.Environment.Variables)
	}
	return env
}

func timeout(tpl *cloudformation.Template, fn *serverless.Function) int {
	if fn.Timeout != nil {
		return *fn.Timeout
	}
	if g := globalFunction(tpl); g != nil && g.Timeout != nil {
		return *g.Timeout
	}
	return 3 // Lambda's default
}

// ---------------------------------------------------------------- parsing

// load parses the template with goformation, with params overriding parameter defaults.
//
// goformation resolves intrinsic functions by default, which loses what these checks follow
// (a Ref to a resource becomes nil). So: Ref to a String parameter, to a resource or to a pseudo
// parameter, and Fn::GetAtt, Fn::Sub and the other value functions are kept as written, encoded
// the way goformation itself encodes intrinsics in string fields (base64 of their JSON; see
// describe). Ref to a Number or list parameter resolves to its value (those land in typed
// fields: a list in SubnetIds, a number in RetentionInDays). Fn::If is decided by evaluating
// its condition against the parameter values, so a template can be checked with and without,
// say, a VPC.
func load(r *report, in inputs, params map[string]any) *cloudformation.Template {
	var evalErrs []error
	handlers := map[string]intrinsics.IntrinsicHandler{
		"Ref": func(name string, input, tpl any) any {
			s, _ := input.(string)
			if s == "AWS::NoValue" {
				return nil
			}
			if p, ok := parameter(tpl, s); ok && p["Type"] != "String" {
				v, err := paramValue(tpl, s)
				if err != nil {
					evalErrs = append(evalErrs, err)
				}
				return v
			}
			return encode(name, input)
		},
		"Fn::If": func(_ string, input, tpl any) any {
			args, ok := input.([]any)
			if !ok || len(args) != 3 {
				evalErrs = append(evalErrs, fmt.Errorf("Fn::If %v: want [condition, then, else]", input))
				return nil
			}
			name, _ := args[0].(string)
			v, err := condition(tpl, name, 0)
			if err != nil {
				evalErrs = append(evalErrs, err)
				return nil
			}
			if v {
				return args[1]
			}
			return args[2]
		},
	}
	for _, fn := range []string{"Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::Select", "Fn::Split", "Fn::ImportValue",
		"Fn::FindInMap", "Fn::Base64", "Fn::GetAZs", "Fn::Cidr", "Fn::Transform"} {
		handlers[fn] = func(name string, input, _ any) any { return encode(name, input) }
	}
	tpl, err := goformation.ParseYAMLWithOptions(in.template, &intrinsics.ProcessorOptions{
		IntrinsicHandlerOverrides: handlers,
		ParameterOverrides:        params,
	})
	if err != nil {
		r.errorf("parse template.yaml (parameters %v): %v", params, err)
		return nil
	}
	for _, err := range evalErrs {
		r.errorf("template.yaml (parameters %v): %v", params, err)
	}
	if len(evalErrs) > 0 {
		return nil
	}
	return tpl
}

func encode(name string, arg any) string {
	b, _ := json.Marshal(map[string]any{name: arg})
	return base64.StdEncoding.EncodeToString(b)
}

// intrinsic decodes a value kept as an intrinsic function: ("Ref", "X"), ("Fn::Sub", "…"),
// ("Fn::GetAtt", "X.Arn").
func intrinsic(v any) (name, arg string, ok bool) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case *string:
		if v == nil {
			return "", "", false
		}
		s = *v
	default:
		return "", "", false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", "", false
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil || len(m) != 1 {
		return "", "", false
	}
	for name, a := range m {
		switch a := a.(type) {
		case string:
			return name, a, true
		case []any:
			parts := make([]string, len(a))
			for i, p := range a {
				parts[i] = fmt.Sprint(p)
			}
			if name == "Fn::GetAtt" {
				return name, strings.Join(parts, "."), true
			}
			return name, fmt.Sprint(a), true
		}
	}
	return "", "", false
}

func ref(v any) string      { return arg(v, "Ref") }
func subOf(v any) string    { return arg(v, "Fn::Sub") }
func getAttOf(v any) string { return arg(v, "Fn::GetAtt") }

func arg(v any, fn string) string {
	if name, a, ok := intrinsic(v); ok && name == fn {
		return a
	}
	return ""
}

// describe renders a value for comparisons and messages: "Ref X", "Fn::Sub …", or the literal.
func describe(v any) string {
	if name, a, ok := intrinsic(v); ok {
		return name + " " + a
	}
	switch v := v.(type) {
	case *string:
		return str(v)
	case *int:
		if v == nil {
			return "<nil>"
		}
		return strconv.Itoa(*v)
	}
	return fmt.Sprint(v)
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// ---------------------------------------------------------------- conditions

func parameter(tpl any, name string) (map[string]any, bool) {
	t, _ := tpl.(map[string]any)
	params, _ := t["Parameters"].(map[string]any)
	p, ok := params[name].(map[string]any)
	return p, ok
}

// paramValue is a parameter's value (its default, or the override): a string, a number, or a
// list for list types, as CloudFormation's Ref gives it.
func paramValue(tpl any, name string) (any, error) {
	p, ok := parameter(tpl, name)
	if !ok {
		return nil, fmt.Errorf("no parameter %s", name)
	}
	def, ok := p["Default"]
	if !ok {
		return nil, fmt.Errorf("parameter %s has no default: give it a value", name)
	}
	typ := fmt.Sprint(p["Type"])
	if typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<") {
		var list []any
		for _, s := range strings.Split(fmt.Sprint(def), ",") {
			list = append(list, strings.TrimSpace(s))
		}
		return list, nil
	}
	return def, nil
}

// condition evaluates the named condition of the template.
func condition(tpl any, name string, depth int) (bool, error) {
	t, _ := tpl.(map[string]any)
	conds, _ := t["Conditions"].(map[string]any)
	expr, ok := conds[name]
	if !ok {
		return false, fmt.Errorf("no condition %q", name)
	}
	return evalBool(tpl, expr, depth+1)
}

func evalBool(tpl, expr any, depth int) (bool, error) {
	if depth > 32 {
		return false, fmt.Errorf("conditions nest too deep (a cycle?)")
	}
	if b, ok := expr.(bool); ok {
		return b, nil
	}
	fn, args, err := single(expr)
	if err != nil {
		return false, err
	}
	list, _ := args.([]any)
	switch fn {
	case "Condition":
		name, _ := args.(string)
		return condition(tpl, name, depth)
	case "Fn::Not":
		if len(list) != 1 {
			return false, fmt.Errorf("Fn::Not %v", args)
		}
		v, err := evalBool(tpl, list[0], depth+1)
		return !v, err
	case "Fn::And", "Fn::Or":
		and := fn == "Fn::And"
		for _, x := range list {
			v, err := evalBool(tpl, x, depth+1)
			if err != nil {
				return false, err
			}
			if v != and {
				return v, nil
			}
		}
		return and, nil
	case "Fn::Equals":
		if len(list) != 2 {
			return false, fmt.Errorf("Fn::Equals %v", args)
		}
		a, err := evalValue(tpl, list[0])
		if err != nil {
			return false, err
		}
		b, err := evalValue(tpl, list[1])
		return fmt.Sprint(a) == fmt.Sprint(b), err
	}
	return false, fmt.Errorf("%s is not supported in a condition by this test", fn)
}

func evalValue(tpl, v any) (any, error) {
	switch v := v.(type) {
	case string, float64, bool:
		return v, nil
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			var err error
			if out[i], err = evalValue(tpl, x); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	fn, args, err := single(v)
	if err != nil {
		return nil, err
	}
	list, _ := args.([]any)
	switch fn {
	case "Ref":
		name, _ := args.(string)
		return paramValue(tpl, name)
	case "Fn::Join":
		if len(list) != 2 {
			return nil, fmt.Errorf("Fn::Join %v", args)
		}
		items, err := evalValue(tpl, list[1])
		if err != nil {
			return nil, err
		}
		parts, _ := items.([]any)
		s := make([]string, len(parts))
		for i, p := range parts {
			s[i] = fmt.Sprint(p)
		}
		return strings.Join(s, fmt.Sprint(list[0])), nil
	case "Fn::Select":
		if len(list) != 2 {
			return nil, fmt.Errorf("Fn::Select %v", args)
		}
		items, err := evalValue(tpl, list[1])
		if err != nil {
			return nil, err
		}
		parts, _ := items.([]any)
		i, err := strconv.Atoi(fmt.Sprint(list[0]))
		if err != nil || i < 0 || i >= len(parts) {
			return nil, fmt.Errorf("Fn::Select %v: index out of range", args)
		}
		return parts[i], nil
	}
	return nil, fmt.Errorf("%s is not supported in a condition by this test", fn)
}

func single(expr any) (string, any, error) {
	m, ok := expr.(map[string]any)
	if !ok || len(m) != 1 {
		return "", nil, fmt.Errorf("condition expression %v: want one intrinsic function", expr)
	}
	for k, v := range m {
		return k, v, nil
	}
	panic("unreachable")
}
