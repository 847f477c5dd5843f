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
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	tlog "go.temporal.io/sdk/log"

	"github.com/witboost-community/cde-spark-provisioner/internal/telemetry"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// TemporalConfig is the Temporal part of the environment, shared by the API and the worker.
//
// The connection (address, namespace, API key, TLS, a profile of a temporal.toml file) is
// configured the Temporal way, with the variables the Temporal CLI and SDKs read, through
// go.temporal.io/sdk/contrib/envconfig: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
// TEMPORAL_TLS, TEMPORAL_TLS_CLIENT_CERT_PATH|_DATA, TEMPORAL_TLS_CLIENT_KEY_PATH|_DATA,
// TEMPORAL_TLS_SERVER_CA_CERT_PATH|_DATA, TEMPORAL_TLS_SERVER_NAME,
// TEMPORAL_TLS_DISABLE_HOST_VERIFICATION, TEMPORAL_CLIENT_AUTHORITY, TEMPORAL_GRPC_META_*,
// TEMPORAL_PROFILE and TEMPORAL_CONFIG_FILE. A variable that is set wins over the profile; with
// nothing set the client dials localhost:7233, namespace default, in plain text.
type TemporalConfig struct {
	// Address and Namespace, when not empty, win over what Temporal's configuration resolves
	// (tests and the local stack set them). No default here: a default would hide a profile's.
	Address   string `env:"TEMPORAL_ADDRESS"`
	Namespace string `env:"TEMPORAL_NAMESPACE"`
	TaskQueue string `env:"TEMPORAL_TASK_QUEUE, default=cde-spark-provisioner"`
	// SearchAttributes registers the Cde* search attributes at start-up and sets them on runs.
	// Turn it off where the namespace's attributes are managed elsewhere and these are absent.
	SearchAttributes bool `env:"TEMPORAL_SEARCH_ATTRIBUTES, default=true"`
	// Env is where Temporal's variables are looked up: nil is the process environment (and
	// then, without TEMPORAL_CONFIG_FILE, the CLI's default profile file,
	// os.UserConfigDir()/temporalio/temporal.toml); a TemporalEnv is a fixed environment that
	// reads no default file. It has no env tag on purpose: go-envconfig (v1.4.3) skips an
	// untagged field that is not a struct, and refuses `env:"-"` as an invalid variable name.
	Env envconfig.EnvLookup
}

// ClientOptions are the options the client dials with: Temporal's configuration (see
// TemporalConfig), Address and Namespace over it, the process's logger. The TLS material is
// checked now, so that a bad file stops the start-up with the setting's name. A client
// certificate given as files is read again, for the next handshake, when the files change.
func (c TemporalConfig) ClientOptions(logger *slog.Logger) (client.Options, error) {
	s, err := c.settings()
	if err != nil {
		return client.Options{}, err
	}
	return s.clientOptions(logger)
}

// ResolvedNamespace is the namespace the client dials: Namespace when set, else Temporal's
// configuration's (TEMPORAL_NAMESPACE, the profile's), else "default".
func (c TemporalConfig) ResolvedNamespace() (string, error) {
	if c.Namespace != "" {
		return c.Namespace, nil
	}
	s, err := c.settings()
	if err != nil {
		return "", err
	}
	return s.prof.Namespace, nil
}

// DialTemporalWith connects to Temporal, retrying for up to wait while the frontend is not up yet
// (the API and the worker often start together with the server), with the SDK's metrics and the
// tracing interceptor of tel (nil: neither).
//
// It retries only what waiting can fix (the frontend unreachable or unavailable). A
// configuration that cannot work returns at once, naming the setting to fix: bad TLS material
// or API key before dialling; then a TLS handshake the client or the server refuses, the
// credentials refused (Unauthenticated, PermissionDenied), a namespace that does not exist. No
// error or log line holds the API key or key material.
func DialTemporalWith(ctx context.Context, cfg TemporalConfig, logger *slog.Logger, wait time.Duration, tel *telemetry.Telemetry) (client.Client, error) {
	s, err := cfg.settings()
	if err != nil {
		return nil, err
	}
	opts, err := s.clientOptions(logger)
	if err != nil {
		return nil, err
	}
	if tel != nil {
		if err := tel.TemporalClientOptions(&opts); err != nil {
			return nil, err
		}
	}
	s.warnings(logger)
	addr, ns := opts.HostPort, opts.Namespace
	deadline := time.Now().Add(wait)
	for {
		c, err := client.DialContext(ctx, opts)
		if err == nil {
			if err = checkNamespace(ctx, c, ns); err == nil {
				logger.Info("connected to Temporal", s.connectedAttrs()...)
				return c, nil
			}
			c.Close()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if fatal := s.explain(err); fatal != nil {
			return nil, fatal
		}
		if time.Now().After(deadline) {
			return nil, &temporalError{msg: fmt.Sprintf("connect to Temporal at %s (namespace %s): %s", addr, ns, s.redact(err.Error())), err: err}
		}
		logger.Warn("Temporal is not reachable yet, retrying", "address", addr, "error", s.redact(err.Error()))
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// checkNamespace makes a namespace that does not exist (or that the credentials may not use) a
// start-up error rather than a worker that never polls: the SDK's Dial does not look at the
// namespace, while the worker's Start describes it, as this does.
func checkNamespace(ctx context.Context, c client.Client, ns string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: ns})
	var unimplemented *serviceerror.Unimplemented
	if errors.As(err, &unimplemented) {
		return nil
	}
	return err
}

// temporalError is an error of the Temporal connection whose message names the setting to fix,
// with secrets removed; Unwrap gives the SDK's error for errors.Is and errors.As.
type temporalError struct {
	msg string
	err error
}

func (e *temporalError) Error() string { return e.msg }
func (e *temporalError) Unwrap() error { return e.err }

// newSDKLogger is the SDK's logger: one logger for the process, the SDK's lines are JSON lines of
// the same slog handler, with the component id on every line of a run.
func newSDKLogger(logger *slog.Logger) tlog.Logger {
	return tlog.NewStructuredLogger(slog.New(withComponentID(logger.Handler())))
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
