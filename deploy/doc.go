// Package deploy has no code of its own: its test checks the wiring of the AWS SAM template
// (../template.yaml) and of the Makefile target SAM builds it with, without AWS and without the
// network.
//
// The test parses the template with goformation, keeping references (Ref, Fn::GetAtt, Fn::Sub)
// as written so that it can follow them, and checks: every WebSocket route reaches the function
// through an AWS_PROXY integration; the HTTP API routes /socket.io to it; each function's
// environment is exactly what lambdafn reads (lambdafn.EnvNames, less the variables that only
// tests set); the DynamoDB table's key and TTL; IAM is least privilege (ManageConnections on this
// API's connections only, the table only, invoking only itself); the sweeper schedule; the
// timeouts against API Gateway's; the build; the outputs. A second test breaks the template in
// many ways and asserts that the check meant to catch each breakage does.
//
// Run it with `go test ./deploy/`; `cfn-lint template.yaml` checks the rest (the schema, SAM's
// transform).
package deploy
