// Command api serves the Witboost Tech Adapter API of the CDE Spark provisioner: it starts
// Temporal workflows and waits for them. It makes no call to CDP, CDE or S3; workers do.
// Configuration is read from the environment (see the README).
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/internal/app"
	"github.com/witboost-community/cde-spark-provisioner/internal/version"
)

type config struct {
	API app.APIConfig
	Log app.LogConfig
}

func main() {
	// --version is the only flag: everything else comes from the environment.
	if version.Requested(os.Args[1:]) {
		fmt.Println(version.String("api"))
		return
	}
	// A signal while starting (Temporal not reachable yet) is a clean stop, not a failure.
	if err := run(); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "api:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var cfg config
	p, err := app.StartProcess(ctx, "api", &cfg, &cfg.Log)
	if err != nil {
		return err
	}
	defer p.Close()
	logger, tel := p.Logger, p.Telemetry
	tc, err := app.DialTemporalWith(ctx, cfg.API.Temporal, logger, time.Minute, tel)
	if err != nil {
		return err
	}
	defer tc.Close()
	ln, err := net.Listen("tcp", cfg.API.HTTPAddr)
	if err != nil {
		return err
	}
	return app.RunAPIWith(ctx, cfg.API, tc, ln, logger, tel)
}
