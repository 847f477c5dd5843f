// Package e2e runs the whole provisioner end to end: the real Temporal dev server (the pinned
// CLI, as `make run` uses it), the real worker and API code, the CDE simulator speaking the real
// CDP/CDE wire protocols, and a local S3-compatible server spoken to with the AWS SDK.
package e2e_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.temporal.io/sdk/client"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/internal/app"
	"github.com/witboost-community/cde-spark-provisioner/internal/devserver"
	"github.com/witboost-community/cde-spark-provisioner/internal/devstack"
	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
	"github.com/witboost-community/cde-spark-provisioner/internal/telemetry"
	"github.com/witboost-community/cde-spark-provisioner/internal/testsupport"
)

// stack is shared by the tests of the package: starting Temporal takes seconds, so it is started
// once; tests keep apart by using distinct components.
type stack struct {
	tel          *telemetry.Telemetry
	spans        *tracetest.InMemoryExporter
	tc           client.Client
	temporalAddr string
	sim          *cdesim.Sim
	s3           *s3local.Server
	acts         *activities.Activities
	workerCf     app.WorkerConfig
	logs         *testsupport.SyncBuffer
}

var st *stack

func TestMain(m *testing.M) {
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	ctx := context.Background()
	logs := &testsupport.SyncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	// Telemetry as in production, spans kept in memory so tests can follow a request.
	spans := tracetest.NewInMemoryExporter()
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "e2e", SpanExporter: spans, Logger: logger})
	if err != nil {
		return 0, err
	}
	defer func() { _ = tel.Shutdown(context.Background()) }()

	tc, addr, stopTemporal, err := temporalClient(ctx, logger, tel)
	if err != nil {
		return 0, err
	}
	defer stopTemporal()

	local, err := devstack.Start(ctx, devstack.Options{
		// Python environments build in a fraction of a second here, so tests wait for one poll.
		Sim:          cdesim.Options{PythonEnvPending: 100 * time.Millisecond, PythonEnvBuild: 200 * time.Millisecond},
		S3:           s3local.Options{Addr: "127.0.0.1:0", Buckets: []string{"artifacts"}},
		SeedExamples: true,
	})
	if err != nil {
		return 0, err
	}
	defer local.Close()
	sim, s3 := local.Sim, local.S3

	// Services and clusters in every state the six CDP rules distinguish, beside the demo seed's
	// running cde-dev/vc-dev, deleted cde-old and installing vc-stage.
	if _, err := sim.AddService(ctx, cdesim.ServiceSeed{Name: "cde-failed", Status: "ClusterCreationFailed",
		EnvironmentName: cdesim.DemoEnvironment, EnvironmentCRN: cdesim.DemoEnvironmentCRN,
		VirtualClusters: []cdesim.VCSeed{{Name: "vc-failed", Status: cdesim.StatusVCRunning}}}); err != nil {
		return 0, err
	}
	dev, _ := sim.Service(cdesim.DemoService)
	if _, err := sim.AddVC(ctx, dev.ClusterID, cdesim.VCSeed{Name: "vc-gone", Status: cdesim.StatusVCDeleted}); err != nil {
		return 0, err
	}

	cfg := app.WorkerConfig{
		Temporal:                app.TemporalConfig{Namespace: "default", TaskQueue: "e2e", SearchAttributes: true},
		CDPEndpointURL:          sim.ControlPlaneURL(),
		CDPAccessKeyID:          cdesim.DemoAccessKeyID,
		CDPPrivateKey:           cdesim.DemoPrivateKey,
		DeployRoleUser:          cdesim.DemoUser,
		DeployRolePassword:      cdesim.DemoPassword,
		IDBrokerLookup:          true,
		S3:                      artifacts.Config{UsePathStyle: true},
		MaxConcurrentActivities: 20,
		HTTPTimeout:             10 * time.Second,
	}
	acts, err := app.NewActivitiesWith(ctx, cfg, local.Transport(), tel,
		artifacts.WithEndpoint(s3.URL()), artifacts.WithRegion("us-east-1"),
		artifacts.WithStaticCredentials("e2e-access-key", "e2e-secret-key", ""))
	if err != nil {
		return 0, err
	}
	acts.Temporal = tc // drift detection's registry, as RunWorkerWith sets it
	if err := app.RegisterSearchAttributes(ctx, tc, "default"); err != nil {
		return 0, err
	}
	w := app.NewWorker(tc, cfg, acts)
	if err := w.Start(); err != nil {
		return 0, fmt.Errorf("start worker: %w", err)
	}
	defer w.Stop()

	st = &stack{tel: tel, spans: spans, tc: tc, temporalAddr: addr, sim: sim, s3: s3, acts: acts, workerCf: cfg, logs: logs}
	return m.Run(), nil
}

// temporalClient connects to TEMPORAL_ADDRESS when set, else starts the pinned dev server as
// `make run` does (devserver.Tuning: eager activities; the database in memory).
func temporalClient(ctx context.Context, logger *slog.Logger, tel *telemetry.Telemetry) (client.Client, string, func(), error) {
	if addr := os.Getenv("TEMPORAL_ADDRESS"); addr != "" {
		tc, err := app.DialTemporalWith(ctx, app.TemporalConfig{Address: addr, Namespace: "default"}, logger, 30*time.Second, tel)
		if err != nil {
			return nil, "", nil, err
		}
		return tc, addr, func() { tc.Close() }, nil
	}
	srv, err := devserver.Start(ctx, devserver.Options{ModuleDir: ".."})
	if err != nil {
		return nil, "", nil, err
	}
	tc, err := app.DialTemporalWith(ctx, app.TemporalConfig{Address: srv.Addr(), Namespace: devserver.Namespace}, logger, 30*time.Second, tel)
	if err != nil {
		srv.Stop()
		return nil, "", nil, err
	}
	return tc, srv.Addr(), func() { tc.Close(); srv.Stop() }, nil
}
