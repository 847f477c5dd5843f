// Command worker runs the Temporal worker of the CDE Spark provisioner: the workflows and the
// activities that talk to CDP, CDE and S3. Deploy and scale it separately from the API.
// Configuration (credentials included) is read from the environment (see the README).
// It serves /healthz and /readyz on HEALTH_ADDR for Kubernetes probes (package health).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sethvargo/go-envconfig"
	"go.temporal.io/sdk/client"

	"github.com/witboost-community/cde-spark-provisioner/activities"
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
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var cfg config
	if err := envconfig.Process(ctx, &cfg); err != nil {
		return fmt.Errorf("configuration: %w", err)
	}
	logger := app.NewLogger(cfg.Log, os.Stderr)

	// The probes are served before Temporal is dialled (that waits up to a minute when the
	// server starts alongside): the pod is alive and not ready meanwhile, not restarted.
	probes := health.New()
	ln, err := net.Listen("tcp", cfg.HealthAddr)
	if err != nil {
		return fmt.Errorf("health listener: %w", err)
	}
	srv := &http.Server{Handler: probes, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("health server stopped", "error", err)
		}
	}()
	defer srv.Close()
	logger.Info("serving probes", "addr", ln.Addr().String(), "paths", "/healthz /readyz")

	acts, err := app.NewActivities(ctx, cfg.Worker, nil)
	if err != nil {
		return err
	}
	tc, err := app.DialTemporal(ctx, cfg.Worker.Temporal, logger, time.Minute)
	if err != nil {
		return err
	}
	defer tc.Close()
	return runWorker(ctx, cfg.Worker, tc, acts, logger, probes)
}

// runWorker is app.RunWorker with the probes told when polling starts and when draining begins.
func runWorker(ctx context.Context, cfg app.WorkerConfig, c client.Client, acts *activities.Activities, logger *slog.Logger, probes *health.Handler) error {
	if cfg.Temporal.SearchAttributes {
		if err := app.RegisterSearchAttributes(ctx, c, cfg.Temporal.Namespace); err != nil {
			return err
		}
	}
	w := app.NewWorker(c, cfg, acts)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	probes.Started(c)
	logger.Info("worker polling", "taskQueue", cfg.Temporal.TaskQueue, "namespace", cfg.Temporal.Namespace)
	<-ctx.Done()
	probes.Stopping()
	w.Stop()
	return nil
}
