package artifacts

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// DefaultRegion is the region used when neither AWS_REGION, AWS_DEFAULT_REGION nor the
// shared profile names one. us-east-1 is the region S3-compatible stores (MinIO, Ceph RGW,
// gofakes3) expect in the SigV4 signing scope unless told otherwise, and it is S3's
// historical default; on AWS itself a bucket elsewhere answers 301 and Stat reports the
// bucket's region so that the operator can set AWS_REGION.
const DefaultRegion = "us-east-1"

// Config is the part of the worker's environment that the AWS SDK does not read itself. The
// region, credentials and endpoint (AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN, AWS_ENDPOINT_URL_S3, AWS_PROFILE, AWS_WEB_IDENTITY_TOKEN_FILE, ...) are
// left to config.LoadDefaultConfig so that every standard AWS mechanism keeps working.
type Config struct {
	// UsePathStyle addresses buckets as http://endpoint/bucket/key instead of
	// http://bucket.endpoint/key: S3-compatible stores (MinIO, gofakes3) usually need it.
	UsePathStyle bool `env:"S3_USE_PATH_STYLE, default=false"`
}

// Option adjusts how New builds the client; they exist for tests and local stacks, production
// configuration comes from the environment.
type Option func(*options)

type options struct {
	httpClient      aws.HTTPClient
	endpoint        string
	creds           aws.CredentialsProvider
	region          string
	retryAttempts   int
	retryMaxBackoff time.Duration
}

// WithHTTPClient sends every request through c (e.g. one whose transport counts requests).
// When AWS_CA_BUNDLE is set the SDK must add to the client's root CAs, which it can only do
// with its own *awshttp.BuildableClient (aws/transport/http): given another client, New fails
// rather than ignore the bundle.
func WithHTTPClient(c aws.HTTPClient) Option { return func(o *options) { o.httpClient = c } }

// WithEndpoint sets the S3 endpoint URL, overriding AWS_ENDPOINT_URL_S3.
func WithEndpoint(url string) Option { return func(o *options) { o.endpoint = url } }

// WithStaticCredentials signs requests with fixed keys instead of the SDK's credential chain.
func WithStaticCredentials(accessKeyID, secretAccessKey, sessionToken string) Option {
	return func(o *options) {
		o.creds = credentials.NewStaticCredentialsProvider(accessKeyID, secretAccessKey, sessionToken)
	}
}

// WithRegion sets the region, overriding AWS_REGION and the shared profile.
func WithRegion(region string) Option { return func(o *options) { o.region = region } }

// WithRetryMaxAttempts bounds the SDK's own attempts per request (1 disables its retries, so
// that a test sees the first answer); AWS_MAX_ATTEMPTS applies otherwise.
func WithRetryMaxAttempts(n int) Option { return func(o *options) { o.retryAttempts = n } }

// WithRetryMaxBackoff caps the SDK's delay between attempts (default 20s), so that tests of
// retries do not sleep for seconds.
func WithRetryMaxBackoff(d time.Duration) Option { return func(o *options) { o.retryMaxBackoff = d } }

// Store reads artifacts from S3. It is safe for concurrent use.
type Store struct {
	client *s3.Client
}

// New builds a Store from the SDK's default configuration chain and cfg. It makes no request:
// a wrong endpoint or missing credentials show up on the first Stat or Open.
func New(ctx context.Context, cfg Config, opts ...Option) (*Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	load := []func(*config.LoadOptions) error{config.WithDefaultRegion(DefaultRegion)}
	if o.httpClient != nil {
		load = append(load, config.WithHTTPClient(o.httpClient))
	}
	if o.creds != nil {
		load = append(load, config.WithCredentialsProvider(o.creds))
	}
	if o.region != "" {
		load = append(load, config.WithRegion(o.region))
	}
	if o.retryAttempts > 0 {
		load = append(load, config.WithRetryMaxAttempts(o.retryAttempts))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		// The SDK's message names the variable or profile at fault; it never quotes a secret.
		return nil, fmt.Errorf("artifacts: load AWS configuration: %w", err)
	}
	client := s3.NewFromConfig(awsCfg, func(so *s3.Options) {
		so.UsePathStyle = cfg.UsePathStyle
		if o.endpoint != "" {
			so.BaseEndpoint = aws.String(o.endpoint)
		}
		if o.retryMaxBackoff > 0 {
			so.Retryer = retry.AddWithMaxBackoffDelay(so.Retryer, o.retryMaxBackoff)
		}
		// The SDK's checksum defaults (both "when_supported") are kept. Request checksums
		// break some S3-compatible stores only on uploads (aws-chunked trailers on PutObject
		// and UploadPart); this package sends HEAD and GET, which carry no payload. Response
		// validation checks a GetObject body as it streams (no buffering) when the store sends
		// an x-amz-checksum-* header, and is skipped when it sends none (gofakes3 for objects
		// uploaded without one, older MinIO): it only ever catches corrupted bytes. A store
		// that still needs them off gets AWS_REQUEST_CHECKSUM_CALCULATION and
		// AWS_RESPONSE_CHECKSUM_VALIDATION=when_required, which LoadDefaultConfig reads and
		// nothing here overrides. Only the SDK's log lines about skipped validations are turned
		// off: an object uploaded in parts (large jars usually are) has a composite checksum
		// the SDK cannot validate, and it writes a WARN line to stderr on every GetObject of it.
		so.DisableLogOutputChecksumValidationSkipped = true
	})
	return &Store{client: client}, nil
}
