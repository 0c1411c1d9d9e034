package lambdafn

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// invoker sends an asynchronous invocation (InvocationType Event) to a function through the
// Lambda Invoke API, signed with SigV4. It needs no SDK client beyond the signer.
type invoker struct {
	endpoint string // https://lambda.<region>.amazonaws.com, or a test server
	function string
	region   string
	creds    aws.CredentialsProvider
	client   *http.Client
	signer   *v4.Signer
}

func newInvoker(cfg Config, creds aws.CredentialsProvider) *invoker {
	endpoint := cfg.LambdaEndpoint
	if endpoint == "" {
		endpoint = "https://lambda." + cfg.Region + ".amazonaws.com"
	}
	return &invoker{
		endpoint: endpoint, function: cfg.FunctionName, region: cfg.Region, creds: creds,
		client: &http.Client{Timeout: 5 * time.Second}, signer: v4.NewSigner(),
	}
}

// invokeAsync queues payload for the function (Lambda answers 202 Accepted at once).
func (i *invoker) invokeAsync(ctx context.Context, payload []byte) error {
	u := i.endpoint + "/2015-03-31/functions/" + url.PathEscape(i.function) + "/invocations"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
	if err != nil {
		return err
	}
	req.Header.Set("X-Amz-Invocation-Type", "Event")
	req.Header.Set("Content-Type", "application/json")
	creds, err := i.creds.Retrieve(ctx)
	if err != nil {
		return fmt.Errorf("lambdafn: credentials: %w", err)
	}
	sum := sha256.Sum256(payload)
	if err := i.signer.SignHTTP(ctx, creds, req, hex.EncodeToString(sum[:]), "lambda", i.region, time.Now()); err != nil {
		return fmt.Errorf("lambdafn: signing: %w", err)
	}
	resp, err := i.client.Do(req)
	if err != nil {
		return fmt.Errorf("lambdafn: invoke %s: %w", i.function, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("lambdafn: invoke %s: %s: %s", i.function, resp.Status, b)
	}
	return nil
}
