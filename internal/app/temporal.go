// Package app wires the processes of the provisioner: configuration from the environment, the
// Temporal client, the worker with its activities, and the HTTP API. cmd/api, cmd/worker,
// cmd/dev and the end-to-end tests all start the same code from here.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/witboost-community/cde-spark-provisioner/internal/telemetry"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// TemporalConfig is the Temporal part of the environment, shared by the API and the worker.
type TemporalConfig struct {
	Address   string `env:"TEMPORAL_ADDRESS, default=localhost:7233"`
	Namespace string `env:"TEMPORAL_NAMESPACE, default=default"`
	TaskQueue string `env:"TEMPORAL_TASK_QUEUE, default=cde-spark-provisioner"`
	// SearchAttributes registers the Cde* search attributes at start-up and sets them on runs.
	// Turn it off where the namespace's attributes are managed elsewhere and these are absent.
	SearchAttributes bool `env:"TEMPORAL_SEARCH_ATTRIBUTES, default=true"`
}

// DialTemporal connects to Temporal, retrying for up to wait while the frontend is not up yet
// (the API and the worker often start together with the server).
func DialTemporal(ctx context.Context, cfg TemporalConfig, logger *slog.Logger, wait time.Duration) (client.Client, error) {
	return DialTemporalWith(ctx, cfg, logger, wait, nil)
}

// DialTemporalWith is DialTemporal with the SDK's metrics and the tracing interceptor of tel
// (nil: neither).
func DialTemporalWith(ctx context.Context, cfg TemporalConfig, logger *slog.Logger, wait time.Duration, tel *telemetry.Telemetry) (client.Client, error) {
	opts := client.Options{
		HostPort:  cfg.Address,
		Namespace: cfg.Namespace,
		// One logger for the process: the SDK's lines are JSON lines of the same slog handler, with
		// the component id on every line of a run.
		Logger: tlog.NewStructuredLogger(slog.New(withComponentID(logger.Handler()))),
	}
	if tel != nil {
		if err := tel.TemporalClientOptions(&opts); err != nil {
			return nil, err
		}
	}
	deadline := time.Now().Add(wait)
	for {
		c, err := client.DialContext(ctx, opts)
		if err == nil {
			return c, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w", cfg.Address, cfg.Namespace, err)
		}
		logger.Warn("Temporal is not reachable yet, retrying", "address", cfg.Address, "error", err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// RegisterSearchAttributes adds the provisioner's search attributes to the namespace if they are
// missing. It is idempotent, so every API and worker replica may call it at start-up.
func RegisterSearchAttributes(ctx context.Context, c client.Client, namespace string) error {
	ops := c.OperatorService()
	have, err := ops.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return fmt.Errorf("list search attributes of namespace %s: %w", namespace, err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for _, key := range workflows.SearchAttributeKeys() {
		if _, ok := have.GetCustomAttributes()[key.GetName()]; !ok {
			missing[key.GetName()] = enumspb.INDEXED_VALUE_TYPE_KEYWORD
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = ops.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{Namespace: namespace, SearchAttributes: missing})
	var exists *serviceerror.AlreadyExists
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("register search attributes in namespace %s: %w", namespace, err)
	}
	return nil
}
