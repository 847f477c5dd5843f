package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/internal/health"
	"github.com/witboost-community/cde-spark-provisioner/internal/telemetry"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// WorkerConfig is the worker's environment. Credentials live here only: activities read them
// from the worker, never from workflow inputs, so they never reach history.
type WorkerConfig struct {
	Temporal TemporalConfig

	CDPEndpointURL     string `env:"CDP_ENDPOINT_URL, default=https://api.us-west-1.cdp.cloudera.com"`
	CDPAccessKeyID     string `env:"CDP_ACCESS_KEY_ID, required"`
	CDPPrivateKey      string `env:"CDP_PRIVATE_KEY, required"`
	DeployRoleUser     string `env:"CDP_DEPLOY_ROLE_USER, required"`
	DeployRolePassword string `env:"CDP_DEPLOY_ROLE_PASSWORD, required"`
	IDBrokerLookup     bool   `env:"CDE_IDBROKER_LOOKUP, default=true"`

	S3 artifacts.Config

	// MaxConcurrentActivities bounds the activities one worker runs at once (uploads included).
	MaxConcurrentActivities int `env:"WORKER_MAX_CONCURRENT_ACTIVITIES, default=50"`
	// UploadConcurrency bounds the uploads of one provision running at once.
	UploadConcurrency int `env:"UPLOAD_CONCURRENCY, default=16"`
	// StatConcurrency bounds the S3 HEAD requests of one artifact check.
	StatConcurrency int `env:"S3_STAT_CONCURRENCY, default=8"`
	// HTTPTimeout bounds each attempt of one CDP, Knox or CDE request that is not a file upload
	// (uploads are bounded by the activity's timeouts and heartbeats, and their wait for an answer
	// by ResponseHeaderTimeout).
	HTTPTimeout time.Duration `env:"CDE_HTTP_TIMEOUT, default=30s"`
	// LookupCacheTTL is how long the worker keeps what cannot change while a CDE service and
	// virtual cluster live, and a datalake's idbroker hosts (0: nothing is kept). Their status is
	// asked at every check. See activities.Lookups.
	LookupCacheTTL time.Duration `env:"CDP_LOOKUP_CACHE_TTL, default=30s"`
	// S3AllowedPrefixes is where artifacts may be read from: comma-separated s3://bucket/prefix
	// entries with {domain}, {dataProduct} and {environment} placeholders (artifacts.Allowlist).
	// Empty: wherever the worker's role can read, with a warning at start.
	S3AllowedPrefixes string `env:"S3_ALLOWED_PREFIXES"`
	// DriftCheckInterval is how often the deployment's jobs are compared with their desired
	// state (a Temporal Schedule, EnsureDriftSchedule); 0 turns drift detection off.
	DriftCheckInterval time.Duration `env:"DRIFT_CHECK_INTERVAL, default=1h"`
	// DriftRepair re-applies the desired state of a drifted job at each check.
	DriftRepair bool `env:"DRIFT_REPAIR, default=false"`
}

// Warnings are the settings a production worker should not run with, for the log at start.
func (c WorkerConfig) Warnings() []string {
	var w []string
	if strings.TrimSpace(c.S3AllowedPrefixes) == "" {
		w = append(w, "S3_ALLOWED_PREFIXES is not set: a descriptor may name any S3 object the worker's role can read, "+
			"and have it copied into a resource its job mounts; set it, e.g. to s3://<bucket>/{domain}/{dataProduct}/")
	}
	return w
}

// ResponseHeaderTimeout bounds, on every CDP, Knox and CDE connection, the wait for an answer's
// headers once the request (its body included) is sent. Requests other than uploads are bounded
// tighter by CDE_HTTP_TIMEOUT; for an upload it is the bound of CDE's processing of the received
// file, generous so that storing a large jar is not taken for a dead server (the upload would be
// sent again).
const ResponseHeaderTimeout = 5 * time.Minute

// Connection pool of the CDP/CDE transport: a worker runs up to WORKER_MAX_CONCURRENT_ACTIVITIES
// activities, each upload activity up to UPLOAD_CONCURRENCY requests to one virtual cluster, so
// the default of 2 idle connections per host would close and re-handshake most of them.
const (
	maxIdleConnsPerHost = 64
	maxIdleConns        = 256
	idleConnTimeout     = 90 * time.Second
)

// tuneTransport returns the transport to CDP and CDE: a clone of transport (nil:
// http.DefaultTransport) with ResponseHeaderTimeout, dial and TLS handshake bounds and a
// connection pool sized for concurrent activities. A RoundTripper that is not an *http.Transport
// (a test's) is used as it is.
func tuneTransport(transport http.RoundTripper) http.RoundTripper {
	if transport == nil {
		transport = http.DefaultTransport
	}
	base, ok := transport.(*http.Transport)
	if !ok {
		return transport
	}
	t := base.Clone()
	t.ResponseHeaderTimeout = ResponseHeaderTimeout
	if t.DialContext == nil {
		t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	if t.TLSHandshakeTimeout == 0 {
		t.TLSHandshakeTimeout = 10 * time.Second
	}
	if t.ExpectContinueTimeout == 0 {
		t.ExpectContinueTimeout = time.Second
	}
	t.MaxIdleConns = max(t.MaxIdleConns, maxIdleConns)
	t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, maxIdleConnsPerHost)
	if t.IdleConnTimeout == 0 {
		t.IdleConnTimeout = idleConnTimeout
	}
	return t
}

// uploadTransport is the transport of file uploads: transport (tuned) speaking HTTP/1.1 only, so
// that each upload in flight has a TCP and TLS connection of its own. Over HTTP/2 the uploads of a
// provision would be streams of one connection: one TCP window, and one goroutine on each side
// encrypting and decrypting every byte, one CPU core's worth, for all of them. Parallel
// connections are what transfer tools do (the AWS SDK's transfer manager, the CDE CLI): make
// bench's figure 1 measured 0.39 s against 0.49 s for the 88 MiB job (ratio 0.26 against 0.34).
// The API calls keep HTTP/2 where the server offers it. A RoundTripper that is not an
// *http.Transport (a test's) is used as it is.
func uploadTransport(transport http.RoundTripper) http.RoundTripper {
	base, ok := transport.(*http.Transport)
	if !ok {
		return transport
	}
	t := base.Clone()
	t.ForceAttemptHTTP2 = false
	t.Protocols = new(http.Protocols)
	t.Protocols.SetHTTP1(true)
	if t.TLSClientConfig != nil {
		// A clone of a transport that has spoken HTTP/2 offers "h2" in its ALPN list.
		t.TLSClientConfig.NextProtos = slices.DeleteFunc(slices.Clone(t.TLSClientConfig.NextProtos), func(p string) bool { return p == "h2" })
	}
	return t
}

// checkWorkerConfig refuses settings that would be taken silently for something else, at start-up
// rather than as a surprise in production.
func checkWorkerConfig(cfg WorkerConfig) error {
	if cfg.LookupCacheTTL < 0 {
		// A negative TTL would keep nothing, like 0, without saying so.
		return fmt.Errorf("CDP_LOOKUP_CACHE_TTL=%s must not be negative (0 switches the lookup cache off)", cfg.LookupCacheTTL)
	}
	if _, err := artifacts.ParseAllowlist(cfg.S3AllowedPrefixes); err != nil {
		return fmt.Errorf("S3_ALLOWED_PREFIXES: %w", err)
	}
	if cfg.DriftCheckInterval < 0 {
		return fmt.Errorf("DRIFT_CHECK_INTERVAL=%s must not be negative (0 switches drift detection off)", cfg.DriftCheckInterval)
	}
	if cfg.DriftCheckInterval > 0 && cfg.DriftCheckInterval < time.Minute {
		// Every check reads every provisioned job: a few seconds between them would load CDE for
		// nothing (the end-to-end tests schedule their own).
		return fmt.Errorf("DRIFT_CHECK_INTERVAL=%s is shorter than a minute; use 1m or more (0 switches drift detection off)", cfg.DriftCheckInterval)
	}
	return nil
}

// String never prints the credentials.
func (c WorkerConfig) String() string {
	return fmt.Sprintf("WorkerConfig{Temporal: %+v, CDPEndpointURL: %q, CDPAccessKeyID: %q, DeployRoleUser: %q, IDBrokerLookup: %t}",
		c.Temporal, c.CDPEndpointURL, c.CDPAccessKeyID, c.DeployRoleUser, c.IDBrokerLookup)
}

// NewActivitiesWith builds the activities with their clients, and the metrics and traces of tel
// (nil: none): every CDP/CDE request is counted and traced, and the activities count S3 requests
// and bytes. transport is the HTTP transport to CDP and CDE (nil: the default one, which trusts
// the system roots and SSL_CERT_FILE); s3Opts are for tests and the local stack.
func NewActivitiesWith(ctx context.Context, cfg WorkerConfig, transport http.RoundTripper, tel *telemetry.Telemetry, s3Opts ...artifacts.Option) (*activities.Activities, error) {
	if err := checkWorkerConfig(cfg); err != nil {
		return nil, err
	}
	transport = tuneTransport(transport)
	uploads := uploadTransport(transport)
	var metrics *activities.Metrics
	if tel != nil {
		var err error
		if transport, err = tel.Transport(transport); err != nil {
			return nil, err
		}
		if uploads, err = tel.Transport(uploads); err != nil {
			return nil, err
		}
		if metrics, err = activities.NewMetrics(tel.Meter("cde-spark-provisioner/activities")); err != nil {
			return nil, err
		}
	}
	// One client for CDP, Knox and the jobs API: its Timeout bounds each attempt of each request
	// (the cde clients retry transient failures themselves, see cde.RetryPolicy); the jobs client
	// sends uploads on the same transport without it.
	short := &http.Client{Transport: transport, Timeout: cfg.HTTPTimeout}
	cdp, err := cde.NewCDPClient(cde.CDPConfig{
		Endpoint: cfg.CDPEndpointURL, AccessKeyID: cfg.CDPAccessKeyID, PrivateKey: cfg.CDPPrivateKey,
		HTTPClient: short, UserAgent: "cde-spark-provisioner",
	})
	if err != nil {
		return nil, fmt.Errorf("CDP client: %w", err)
	}
	tokens, err := cde.NewKnoxTokenSource(cde.KnoxConfig{User: cfg.DeployRoleUser, Password: cfg.DeployRolePassword, HTTPClient: short})
	if err != nil {
		return nil, fmt.Errorf("Knox token source: %w", err)
	}
	allowed, _ := artifacts.ParseAllowlist(cfg.S3AllowedPrefixes) // checked above
	store, err := artifacts.New(ctx, cfg.S3, s3Opts...)
	if err != nil {
		return nil, fmt.Errorf("S3 artifact store: %w", err)
	}
	return &activities.Activities{
		CDP:    cdp,
		Tokens: tokens,
		// CDE_HTTP_TIMEOUT bounds every jobs-API request but uploads: an upload of a large jar
		// takes as long as it takes, bounded by the activity's context (StartToClose, heartbeats)
		// and ResponseHeaderTimeout (cde.NewJobsClient).
		HTTP:              short,
		Uploads:           &http.Client{Transport: uploads},
		Store:             store,
		IDBrokerLookup:    cfg.IDBrokerLookup,
		StatConcurrency:   cfg.StatConcurrency,
		UploadConcurrency: cfg.UploadConcurrency,
		Metrics:           metrics,
		Lookups:           activities.NewLookups(cfg.LookupCacheTTL),
		Allowed:           allowed,
	}, nil
}

// NewWorker registers the workflows and activities on the task queue. tune adjusts the worker's
// options (cmd/worker reports fatal errors to its liveness probe through it).
func NewWorker(c client.Client, cfg WorkerConfig, acts *activities.Activities, tune ...func(*worker.Options)) worker.Worker {
	opts := worker.Options{
		MaxConcurrentActivityExecutionSize: cfg.MaxConcurrentActivities,
		// Let running uploads finish (or heartbeat their progress) before the process exits.
		WorkerStopTimeout: 30 * time.Second,
		// Heartbeats carry the files an upload activity has finished; sending them within seconds
		// (rather than the SDK's default of up to 80% of the heartbeat timeout) means a crashed
		// worker's successor re-sends at most the file that was in flight.
		MaxHeartbeatThrottleInterval:     5 * time.Second,
		DefaultHeartbeatThrottleInterval: 5 * time.Second,
		// A non-determinism error (a run of a newer release handed to an older worker during a
		// rollout) fails the workflow task, which Temporal retries until a worker that knows the
		// run's branches takes it; it never fails the run (the SDK's default, stated because the
		// upgrade procedure in docs/operations.md relies on it).
		WorkflowPanicPolicy: worker.BlockWorkflow,
		// Pollers scale with the load, on the server's feedback (between 1 and 100 per kind of
		// task): a burst of runs gets its workflow tasks and activities picked up as fast as they
		// arrive, instead of through the SDK's fixed two pollers. Measured by make bench (figure
		// 5, a burst of 200 provisions): p99 5-6.5 s against 7-9 s with the fixed pollers.
		WorkflowTaskPollerBehavior: worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{}),
		ActivityTaskPollerBehavior: worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{}),
	}
	for _, t := range tune {
		t(&opts)
	}
	w := worker.New(c, cfg.Temporal.TaskQueue, opts)
	workflows.Register(w)
	w.RegisterActivity(acts)
	return w
}

// RunWorker runs a worker until ctx ends.
func RunWorker(ctx context.Context, cfg WorkerConfig, c client.Client, acts *activities.Activities, logger *slog.Logger) error {
	return RunWorkerWith(ctx, cfg, c, acts, logger, nil)
}

// RunWorkerWith is RunWorker with probes (nil: none) told when polling starts, when draining
// begins, and when the worker stops for good.
func RunWorkerWith(ctx context.Context, cfg WorkerConfig, c client.Client, acts *activities.Activities, logger *slog.Logger, probes *health.Handler) error {
	namespace, err := cfg.Temporal.ResolvedNamespace()
	if err != nil {
		return err
	}
	if cfg.Temporal.SearchAttributes {
		if err := RegisterSearchAttributes(ctx, c, namespace); err != nil {
			return err
		}
	}
	for _, warning := range cfg.Warnings() {
		logger.Warn(warning)
	}
	if acts.Temporal == nil {
		acts.Temporal = c
	}
	if err := EnsureDriftSchedule(ctx, c, cfg.Temporal.TaskQueue, cfg.DriftCheckInterval, cfg.DriftRepair, logger); err != nil {
		return err
	}
	if w := driftRetentionWarning(ctx, c, namespace, cfg.DriftCheckInterval); w != "" {
		logger.Warn(w)
	}
	var tune []func(*worker.Options)
	if probes != nil {
		// A worker that stops for good (e.g. its namespace is gone) fails the liveness probe, so
		// Kubernetes restarts the pod instead of leaving it idle.
		tune = append(tune, func(o *worker.Options) { o.OnFatalError = probes.Failed })
	}
	w := NewWorker(c, cfg, acts, tune...)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	if probes != nil {
		probes.Started(c)
	}
	logger.Info("worker polling", "taskQueue", cfg.Temporal.TaskQueue, "namespace", namespace)
	<-ctx.Done()
	if probes != nil {
		probes.Stopping()
	}
	w.Stop()
	return nil
}
