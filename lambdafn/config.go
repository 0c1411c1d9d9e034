package lambdafn

import (
	"fmt"
	"time"

	"github.com/serverless-socketio/server/handler"
	"github.com/serverless-socketio/server/internal/envflag"
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
	EnvCORSOrigins      = "SIO_CORS_ORIGINS"              // comma-separated origins, "*" for any (polling only, without credentials)
	EnvWSAnyOrigin      = "SIO_WS_ANY_ORIGIN"             // true: WebSocket upgrades from any Origin (default false)
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
	EnvPingTimeout, EnvWSPingInterval, EnvPollHold, EnvCORSOrigins, EnvWSAnyOrigin, EnvMaxPayload,
	EnvConnectTimeout, EnvLambdaEndpoint, EnvSweepPassEvery, EnvPollBackoff,
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
	// Origins are the browser origins allowed to poll (CORS) and to open WebSockets.
	Origins handler.OriginPolicy
}

// FromEnv reads the configuration. Every missing required value and every malformed one is
// reported, each with its variable's name, in one error. Values are parsed as cmd/local parses
// them (package envflag).
func FromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Store:          getenv(EnvStore),
		RedisURL:       getenv(EnvRedisURL),
		DynamoTable:    getenv(EnvDynamoTable),
		DynamoEndpoint: getenv(EnvDynamoEndpoint),
		APIGWEndpoint:  getenv(EnvAPIGWEndpoint),
		LambdaEndpoint: getenv(EnvLambdaEndpoint),
		FunctionName:   getenv(envFunctionName),
		Region:         getenv(envRegion),
	}
	s := envflag.New(nil, getenv)
	dur := func(p *time.Duration, name string, def time.Duration) {
		s.Duration(p, envflag.Name{Env: name}, def, "")
	}
	dur(&c.PingInterval, EnvPingInterval, defaultPingInterval)
	dur(&c.PingTimeout, EnvPingTimeout, 20*time.Second)
	dur(&c.WSPingInterval, EnvWSPingInterval, defaultWSPing)
	dur(&c.PollHold, EnvPollHold, 25*time.Second)
	dur(&c.ConnectTimeout, EnvConnectTimeout, 45*time.Second)
	dur(&c.SweepPass, EnvSweepPassEvery, defaultSweepPass)
	dur(&c.PollBackoff, EnvPollBackoff, time.Second)
	s.Bytes(&c.MaxPayload, envflag.Name{Env: EnvMaxPayload}, defaultMaxPayload, "")
	s.List(&c.Origins.Allow, envflag.Name{Env: EnvCORSOrigins}, "")
	s.Bool(&c.Origins.AnyWebSocket, envflag.Name{Env: EnvWSAnyOrigin}, false, "")
	if c.PollHold > handler.MaxPollHold {
		s.Errorf("%s=%s: at most %s (API Gateway's integration timeout is 29-30 s)", EnvPollHold, c.PollHold, handler.MaxPollHold)
	}
	switch c.Store {
	case "redis":
		if c.RedisURL == "" {
			s.Errorf("%s=redis needs %s", EnvStore, EnvRedisURL)
		}
	case "dynamodb":
		if c.DynamoTable == "" {
			s.Errorf("%s=dynamodb needs %s", EnvStore, EnvDynamoTable)
		}
		if c.MaxPayload > dynamo.MaxPacket {
			// Announce what the store can queue (dynamo.MaxPacket).
			c.MaxPayload = dynamo.MaxPacket
		}
	case "":
		s.Errorf("%s is not set: want redis or dynamodb", EnvStore)
	default:
		s.Errorf("%s=%q: want redis or dynamodb", EnvStore, c.Store)
	}
	if err := s.Parse(nil); err != nil {
		return c, fmt.Errorf("lambdafn: configuration: %w", err)
	}
	return c, nil
}
