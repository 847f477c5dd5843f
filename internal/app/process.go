package app

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/witboost-community/cde-spark-provisioner/internal/telemetry"
	"github.com/witboost-community/cde-spark-provisioner/internal/version"
)

// Process is what every command of the provisioner starts with: its configuration read from the
// environment, its JSON logger and its telemetry.
type Process struct {
	Logger    *slog.Logger
	Telemetry *telemetry.Telemetry
}

// StartProcess reads cfg from the environment (log is its LogConfig, filled by the same pass),
// and sets up the logger and the telemetry of the command name (api, worker).
func StartProcess(ctx context.Context, name string, cfg any, log *LogConfig) (*Process, error) {
	if err := envconfig.Process(ctx, cfg); err != nil {
		return nil, fmt.Errorf("configuration: %w", err)
	}
	logger := NewLogger(*log, os.Stderr)
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "cde-spark-provisioner-" + name, Version: version.Version, Logger: logger})
	if err != nil {
		return nil, err
	}
	return &Process{Logger: logger, Telemetry: tel}, nil
}

// Close flushes the telemetry (spans still buffered), waiting at most a few seconds.
func (p *Process) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Telemetry.Shutdown(ctx); err != nil {
		p.Logger.Warn("telemetry shutdown", "error", err)
	}
}
