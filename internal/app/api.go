package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.temporal.io/sdk/client"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/internal/telemetry"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// APIConfig is the API's environment.
type APIConfig struct {
	Temporal TemporalConfig

	HTTPAddr    string        `env:"HTTP_ADDR, default=:8093"`
	SyncTimeout time.Duration `env:"SYNC_TIMEOUT, default=30s"`
	// DedupeWindow: an identical provision/unprovision this soon after a completed run of it gets
	// that run's answer (the Coordinator retrying after a lost answer). 0 turns it off.
	DedupeWindow time.Duration `env:"REQUEST_DEDUPE_WINDOW, default=1m"`
	// MaxRequestBytes bounds request bodies (413 above); unset or 0 is api.DefaultMaxBodyBytes,
	// which api.New applies, so the default is written once (deploy/settings_test.go checks the
	// copies in the README, .env.example, compose and the chart against it).
	MaxRequestBytes int64 `env:"MAX_REQUEST_BYTES"`
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT, default=20s"`
	// RunTimeout bounds every provision and unprovision run, ValidateRunTimeout every validation:
	// a run no worker picks up (workers down, another task queue) ends FAILED after it and frees
	// the component. RunAPI refuses values below the longest legitimate run.
	RunTimeout         time.Duration `env:"RUN_TIMEOUT, default=6h"`
	ValidateRunTimeout time.Duration `env:"VALIDATE_RUN_TIMEOUT, default=30m"`
	// DecodeConcurrency bounds the descriptors decoded at once (0: GOMAXPROCS).
	DecodeConcurrency int `env:"DECODE_CONCURRENCY"`

	// Access control of the Tech Adapter routes (README, "Access control"); all off by default.
	// /health stays open whatever is set.

	// AuthTokenFile requires "Authorization: Bearer <token>" with the token of this file (a
	// mounted Secret), re-read when it changes.
	AuthTokenFile string `env:"AUTH_TOKEN_FILE"`
	// AuthTokenGracePeriod is how long the previous token stays valid after a rotation.
	AuthTokenGracePeriod time.Duration `env:"AUTH_TOKEN_GRACE_PERIOD, default=5m"`
	// TLSCertFile and TLSKeyFile make the API serve HTTPS (reloaded when they change).
	TLSCertFile string `env:"TLS_CERT_FILE"`
	TLSKeyFile  string `env:"TLS_KEY_FILE"`
	// TLSClientCAFile requires, on the Tech Adapter routes, a client certificate issued by
	// this CA (mutual TLS). A bundle that becomes unusable (gone, unreadable, no certificate)
	// refuses every call until it is fixed.
	TLSClientCAFile string `env:"TLS_CLIENT_CA_FILE"`
	// TLSClientAllowedNames pins the client certificates' identity: comma-separated common
	// names or DNS names, one of which the certificate must carry (403 otherwise). Empty: any
	// certificate the client CA issued.
	TLSClientAllowedNames string `env:"TLS_CLIENT_ALLOWED_NAMES"`
}

// NewAPIServerWith returns the HTTP server of the API with timeouts consistent with the
// synchronous wait: a request may legitimately take SyncTimeout before its 202, so writes get that
// plus a margin, while headers and bodies must arrive quickly. The router applies cfg's access
// control, and tel's request metrics, /metrics and traces (nil: none); serving TLS (and checking
// the access settings together) is RunAPI's.
func NewAPIServerWith(cfg APIConfig, tc client.Client, logger *slog.Logger, tel *telemetry.Telemetry) (*http.Server, *api.Server, error) {
	return newAPIServer(cfg, apiAuth(cfg, logger), tc, logger, tel)
}

// newAPIServer is NewAPIServerWith with the access control auth.
func newAPIServer(cfg APIConfig, auth api.Auth, tc client.Client, logger *slog.Logger, tel *telemetry.Telemetry) (*http.Server, *api.Server, error) {
	apiCfg := api.Config{
		TaskQueue:          cfg.Temporal.TaskQueue,
		SyncTimeout:        cfg.SyncTimeout,
		DedupeWindow:       cfg.DedupeWindow,
		MaxBodyBytes:       cfg.MaxRequestBytes,
		SearchAttributes:   cfg.Temporal.SearchAttributes,
		RunTimeout:         cfg.RunTimeout,
		ValidateRunTimeout: cfg.ValidateRunTimeout,
		Auth:               auth,
		DecodeConcurrency:  cfg.DecodeConcurrency,
	}
	if tel != nil {
		metrics, err := tel.NewHTTPServerMetrics()
		if err != nil {
			return nil, nil, err
		}
		apiCfg.Observe = metrics.Record
		apiCfg.Metrics = tel.MetricsHandler()
	}
	srv := api.New(apiCfg, tc, logger)
	handler := srv.Router()
	if tel != nil {
		handler = tel.Handler(handler)
		if err := registerDriftGauge(tel, srv); err != nil {
			return nil, nil, err
		}
	}
	return &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      cfg.SyncTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}, srv, nil
}

// RunAPI serves the API on ln until ctx ends, then shuts down gracefully: requests still
// waiting for a run answer 202 with their token at once, and in-flight requests finish. With
// TLS_CERT_FILE it serves HTTPS (mutual TLS with TLS_CLIENT_CA_FILE).
func RunAPI(ctx context.Context, cfg APIConfig, tc client.Client, ln net.Listener, logger *slog.Logger) error {
	return RunAPIWith(ctx, cfg, tc, ln, logger, nil)
}

// RunAPIWith is RunAPI with tel's metrics and traces (nil: none).
func RunAPIWith(ctx context.Context, cfg APIConfig, tc client.Client, ln net.Listener, logger *slog.Logger, tel *telemetry.Telemetry) error {
	if err := checkAccessConfig(cfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	if err := checkRunTimeouts(cfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	serverTLS, err := newAPITLS(cfg, logger)
	if err != nil {
		return err
	}
	auth := apiAuth(cfg, logger)
	var tlsConfig *tls.Config
	if serverTLS != nil {
		tlsConfig = serverTLS.config()
		if serverTLS.clientCA != nil {
			auth.ClientCAStatus = serverTLS.clientCAStatus
		}
	}
	if cfg.Temporal.SearchAttributes {
		namespace, err := cfg.Temporal.ResolvedNamespace()
		if err != nil {
			return err
		}
		if err := RegisterSearchAttributes(ctx, tc, namespace); err != nil {
			return err
		}
	}
	if !auth.ClientCert && auth.Token == nil {
		logger.Warn(noAccessControl)
	}
	if cfg.AuthTokenFile != "" && tlsConfig == nil {
		logger.Warn("AUTH_TOKEN_FILE is set but the API serves plain HTTP: the token crosses the network in clear text unless TLS is terminated in front of the API (a service mesh); set TLS_CERT_FILE and TLS_KEY_FILE")
	}
	httpSrv, apiSrv, err := newAPIServer(cfg, auth, tc, logger, tel)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	if tlsConfig != nil {
		httpSrv.TLSConfig = tlsConfig
		// The certificate comes from tlsConfig (GetConfigForClient), hence no file names here.
		go func() { errc <- httpSrv.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- httpSrv.Serve(ln) }()
	}
	logger.Info("API listening", "address", ln.Addr().String(), "syncTimeout", cfg.SyncTimeout.String(),
		"https", tlsConfig != nil, "bearerToken", cfg.AuthTokenFile != "", "mutualTLS", cfg.TLSClientCAFile != "",
		"clientNamesPinned", len(auth.ClientNames))
	select {
	case err := <-errc:
		return fmt.Errorf("serve API: %w", err)
	case <-ctx.Done():
	}
	apiSrv.Drain()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shut down API: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// checkRunTimeouts refuses run bounds that would end legitimate runs: a bound only has to end
// the runs that no worker picks up or that hang. Zero stands for the default (api.New).
func checkRunTimeouts(cfg APIConfig) error {
	for _, b := range []struct {
		name  string
		value time.Duration
		op    workflows.Operation
	}{
		{"RUN_TIMEOUT", cfg.RunTimeout, workflows.OpProvision},
		{"RUN_TIMEOUT", cfg.RunTimeout, workflows.OpUnprovision},
		{"VALIDATE_RUN_TIMEOUT", cfg.ValidateRunTimeout, workflows.OpValidate},
	} {
		if longest := workflows.LongestRun(b.op); b.value != 0 && b.value < longest { // 0: the default
			return fmt.Errorf("%s=%s is shorter than the longest legitimate %s (%s: the budgets of its steps); set at least that", b.name, b.value, b.op, longest)
		}
	}
	return nil
}

// driftGauges holds, per Telemetry, the API server whose drift registry cde_drifted_components
// reads: the instrument is registered once per process's telemetry, and a later server (the
// end-to-end tests start many) takes over the reading instead of adding a callback.
var driftGauges sync.Map // *telemetry.Telemetry → *atomic.Pointer[api.Server]

// registerDriftGauge exposes cde_drifted_components: the components whose job differed from its
// desired state at their last drift check (GET /v1/drift lists them). Every API replica reports
// the same number, read from the deployment's drift registry.
func registerDriftGauge(tel *telemetry.Telemetry, srv *api.Server) error {
	holder, loaded := driftGauges.LoadOrStore(tel, new(atomic.Pointer[api.Server]))
	current := holder.(*atomic.Pointer[api.Server])
	current.Store(srv)
	if loaded {
		return nil
	}
	_, err := tel.Meter("cde-spark-provisioner/drift").Int64ObservableGauge("cde.drifted.components",
		metric.WithDescription("Components whose CDE job differs from its desired state at their last drift check"),
		metric.WithInt64Callback(func(ctx context.Context, o metric.Int64Observer) error {
			if n, ok := current.Load().DriftedComponents(ctx); ok {
				o.Observe(int64(n))
			}
			return nil
		}))
	return err
}
