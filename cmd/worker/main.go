// Command worker runs the Temporal worker of the CDE Spark provisioner: the workflows and the
// activities that talk to CDP, CDE and S3. Deploy and scale it separately from the API.
// Configuration (credentials included) is read from the environment (see the README).
// It serves /healthz and /readyz (package health) and the Prometheus /metrics on HEALTH_ADDR.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/internal/app"
	"github.com/witboost-community/cde-spark-provisioner/internal/health"
	"github.com/witboost-community/cde-spark-provisioner/internal/version"
)

type config struct {
	Worker app.WorkerConfig
	Log    app.LogConfig
	// HealthAddr serves the probes; a port of its own because the worker has no other server.
	HealthAddr string `env:"HEALTH_ADDR, default=:9090"`
}

func main() {
	// --version is the only flag: everything else comes from the environment.
	if version.Requested(os.Args[1:]) {
		fmt.Println(version.String("worker"))
		return
	}
	// A signal while starting (Temporal not reachable yet) is a clean stop, not a failure.
	if err := run(); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var cfg config
	p, err := app.StartProcess(ctx, "worker", &cfg, &cfg.Log)
	if err != nil {
		return err
	}
	defer p.Close()
	logger, tel := p.Logger, p.Telemetry

	// The probes are served before Temporal is dialled (that waits up to a minute when the
	// server starts alongside): the pod is alive and not ready meanwhile, not restarted.
	probes := health.New(health.WithLogger(logger)) // the probes answer without error text; it goes to the log
	ln, err := net.Listen("tcp", cfg.HealthAddr)
	if err != nil {
		return fmt.Errorf("health listener: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", tel.MetricsHandler())
	mux.Handle("/", probes)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("health server stopped", "error", err)
		}
	}()
	defer srv.Close()
	logger.Info("serving probes and metrics", "addr", ln.Addr().String(), "paths", "/healthz /readyz /metrics")

	acts, err := app.NewActivitiesWith(ctx, cfg.Worker, nil, tel)
	if err != nil {
		return err
	}
	tc, err := app.DialTemporalWith(ctx, cfg.Worker.Temporal, logger, time.Minute, tel)
	if err != nil {
		return err
	}
	defer tc.Close()
	return app.RunWorkerWith(ctx, cfg.Worker, tc, acts, logger, probes)
}
