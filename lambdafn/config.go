package lambdafn

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/store/dynamo"
)

// The environment variables the function reads. template.yaml sets them; deploy's test checks
// that both sides use the same names.
const (
	EnvStore            = "SIO_STORE"                     // "redis" or "dynamodb"
	EnvRedisURL         = "SIO_REDIS_URL"                 // redis://host:port/db, with SIO_STORE=redis
	EnvDynamoTable      = "SIO_DYNAMODB_TABLE"            // table name, with SIO_STORE=dynamodb
	EnvDynamoEndpoint   = "SIO_DYNAMODB_ENDPOINT"         // optional: DynamoDB Local and tests
	EnvAPIGWEndpoint    = "SIO_APIGW_MANAGEMENT_ENDPOINT" // https://<api>.execute-api.<region>.amazonaws.com/<stage>
	EnvPingInterval     = "SIO_PING_INTERVAL"             // Go duration; default 25s
	EnvPingTimeout      = "SIO_PING_TIMEOUT"              // Go duration; default 20s
	EnvWSPingInterval   = "SIO_WS_PING_INTERVAL"          // Go duration; default 60s (sweeper-driven pings)
	EnvPollHold         = "SIO_POLL_HOLD"                 // Go duration; default 25s, at most 28s
	EnvCORSOrigins      = "SIO_CORS_ORIGINS"              // comma-separated origins, "*" for any
	EnvMaxPayload       = "SIO_MAX_PAYLOAD"               // bytes; default 1000000
	EnvConnectTimeout   = "SIO_CONNECT_TIMEOUT"           // Go duration; default 45s
	EnvLambdaEndpoint   = "SIO_LAMBDA_ENDPOINT"           // optional: the Lambda API, for tests
	EnvSweepPassEvery   = "SIO_SWEEP_PASS"                // Go duration between sweeper passes; default 10s
	EnvPollBackoff      = "SIO_POLL_BACKOFF"              // Go duration; default 1s: longest wait between reads of a held poll's queue (DynamoDB)
	envFunctionName     = "AWS_LAMBDA_FUNCTION_NAME"      // set by Lambda
	envRegion           = "AWS_REGION"                    // set by Lambda
	envAccessKeyID      = "AWS_ACCESS_KEY_ID"             // set by Lambda
	envSecretAccessKey  = "AWS_SECRET_ACCESS_KEY"         // set by Lambda
	envSessionToken     = "AWS_SESSION_TOKEN"             // set by Lambda
	defaultWSPing       = 60 * time.Second
	defaultSweepPass    = 10 * time.Second
	defaultMaxPayload   = 1_000_000
	defaultPingInterval = 25 * time.Second
)

// EnvNames lists the variables the function's configuration reads (not those Lambda sets).
var EnvNames = []string{
	EnvStore, EnvRedisURL, EnvDynamoTable, EnvDynamoEndpoint, EnvAPIGWEndpoint, EnvPingInterval,
	EnvPingTimeout, EnvWSPingInterval, EnvPollHold, EnvCORSOrigins, EnvMaxPayload, EnvConnectTimeout,
	EnvLambdaEndpoint, EnvSweepPassEvery, EnvPollBackoff,
}

// Config is the function's configuration.
type Config struct {
	Store          string
	RedisURL       string
	DynamoTable    string
	DynamoEndpoint string
	APIGWEndpoint  string
	LambdaEndpoint string
	FunctionName   string
	Region         string
	PingInterval   time.Duration
	PingTimeout    time.Duration
	WSPingInterval time.Duration
	PollHold       time.Duration
	ConnectTimeout time.Duration
	SweepPass      time.Duration
	PollBackoff    time.Duration
	MaxPayload     int64
	CORSOrigins    []string
}

// FromEnv reads the configuration. Every missing required value and every malformed one is
// reported, each with its variable's name, in one error.
func FromEnv(getenv func(string) string) (Config, error) {
	var errs []error
	dur := func(name string, def time.Duration) time.Duration {
		v := getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive Go duration such as 25s", name, v))
			return def
		}
		return d
	}
	c := Config{
		Store:          getenv(EnvStore),
		RedisURL:       getenv(EnvRedisURL),
		DynamoTable:    getenv(EnvDynamoTable),
		DynamoEndpoint: getenv(EnvDynamoEndpoint),
		APIGWEndpoint:  getenv(EnvAPIGWEndpoint),
		LambdaEndpoint: getenv(EnvLambdaEndpoint),
		FunctionName:   getenv(envFunctionName),
		Region:         getenv(envRegion),
		PingInterval:   dur(EnvPingInterval, defaultPingInterval),
		PingTimeout:    dur(EnvPingTimeout, 20*time.Second),
		WSPingInterval: dur(EnvWSPingInterval, defaultWSPing),
		PollHold:       dur(EnvPollHold, 25*time.Second),
		ConnectTimeout: dur(EnvConnectTimeout, 45*time.Second),
		SweepPass:      dur(EnvSweepPassEvery, defaultSweepPass),
		PollBackoff:    dur(EnvPollBackoff, time.Second),
		MaxPayload:     defaultMaxPayload,
	}
	if v := getenv(EnvMaxPayload); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("%s=%q: want a positive number of bytes", EnvMaxPayload, v))
		} else {
			c.MaxPayload = n
		}
	}
	for _, o := range strings.Split(getenv(EnvCORSOrigins), ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
	}
	if c.PollHold > handler.MaxPollHold {
		errs = append(errs, fmt.Errorf("%s=%s: at most %s (API Gateway's integration timeout is 29-30 s)", EnvPollHold, c.PollHold, handler.MaxPollHold))
	}
	switch c.Store {
	case "redis":
		if c.RedisURL == "" {
			errs = append(errs, fmt.Errorf("%s=redis needs %s", EnvStore, EnvRedisURL))
		}
	case "dynamodb":
		if c.DynamoTable == "" {
			errs = append(errs, fmt.Errorf("%s=dynamodb needs %s", EnvStore, EnvDynamoTable))
		}
		if c.MaxPayload > dynamo.MaxPacket {
			// A queued packet is one item (at most 400 KB): announce what the store can queue.
			c.MaxPayload = dynamo.MaxPacket
		}
	case "":
		errs = append(errs, fmt.Errorf("%s is not set: want redis or dynamodb", EnvStore))
	default:
		errs = append(errs, fmt.Errorf("%s=%q: want redis or dynamodb", EnvStore, c.Store))
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("lambdafn: configuration: %w", errors.Join(errs...))
	}
	return c, nil
}
