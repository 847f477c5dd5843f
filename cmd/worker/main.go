// Command worker runs the Temporal worker of the CDE Spark provisioner: the workflows and the
// activities that talk to CDP, CDE and S3. Deploy and scale it separately from the API.
// Configuration (credentials included) is read from the environment (see the README).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/witboost-community/cde-spark-provisioner/internal/app"
	"github.com/witboost-community/cde-spark-provisioner/internal/version"
)

type config struct {
	Worker app.WorkerConfig
	Log    app.LogConfig
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
	acts, err := app.NewActivities(ctx, cfg.Worker, nil)
	if err != nil {
		return err
	}
	tc, err := app.DialTemporal(ctx, cfg.Worker.Temporal, logger, time.Minute)
	if err != nil {
		return err
	}
	defer tc.Close()
	return app.RunWorker(ctx, cfg.Worker, tc, acts, logger)
}
