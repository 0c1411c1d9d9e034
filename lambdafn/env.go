package lambdafn

import (
	"context"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// envCredentials reads the function's credentials from the variables Lambda sets (the
// execution role's session), at each use: no SDK configuration chain is needed.
func envCredentials(context.Context) (aws.Credentials, error) {
	return aws.Credentials{
		AccessKeyID:     os.Getenv(envAccessKeyID),
		SecretAccessKey: os.Getenv(envSecretAccessKey),
		SessionToken:    os.Getenv(envSessionToken),
		Source:          "lambda environment",
	}, nil
}
