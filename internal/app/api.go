package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/witboost-community/cde-spark-provisioner/api"
)

// APIConfig is the API's environment.
type APIConfig struct {
	Temporal TemporalConfig

	HTTPAddr    string        `env:"HTTP_ADDR, default=:8093"`
	SyncTimeout time.Duration `env:"SYNC_TIMEOUT, default=30s"`
	// DedupeWindow: an identical provision/unprovision this soon after a completed run of it gets
	// that run's answer (the Coordinator retrying after a lost answer). 0 turns it off.
	DedupeWindow time.Duration `env:"REQUEST_DEDUPE_WINDOW, default=1m"`
	// MaxRequestBytes bounds request bodies (413 above).
	MaxRequestBytes int64 `env:"MAX_REQUEST_BYTES, default=6356992"`
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT, default=20s"`
}

// NewAPIServer returns the HTTP server of the API with timeouts consistent with the synchronous
// wait: a request may legitimately take SyncTimeout before its 202, so writes get that plus a
// margin, while headers and bodies must arrive quickly.
func NewAPIServer(cfg APIConfig, tc client.Client, logger *slog.Logger) (*http.Server, *api.Server) {
	srv := api.New(api.Config{
		TaskQueue:        cfg.Temporal.TaskQueue,
		SyncTimeout:      cfg.SyncTimeout,
		DedupeWindow:     cfg.DedupeWindow,
		MaxBodyBytes:     cfg.MaxRequestBytes,
		SearchAttributes: cfg.Temporal.SearchAttributes,
	}, tc, logger)
	return &http.Server{
		Addr:              cfg.HTTPAddr,
		Handler:           srv.Router(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      cfg.SyncTimeout + 30*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}, srv
}

// RunAPI serves the API on ln until ctx ends, then shuts down gracefully: requests still
// waiting for a run answer 202 with their token at once, and in-flight requests finish.
func RunAPI(ctx context.Context, cfg APIConfig, tc client.Client, ln net.Listener, logger *slog.Logger) error {
	if cfg.Temporal.SearchAttributes {
		if err := RegisterSearchAttributes(ctx, tc, cfg.Temporal.Namespace); err != nil {
			return err
		}
	}
	httpSrv, apiSrv := NewAPIServer(cfg, tc, logger)
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	logger.Info("API listening", "address", ln.Addr().String(), "syncTimeout", cfg.SyncTimeout.String())
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
