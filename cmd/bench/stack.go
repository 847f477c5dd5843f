package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/internal/childproc"
	"github.com/witboost-community/cde-spark-provisioner/internal/devserver"
	"github.com/witboost-community/cde-spark-provisioner/internal/devstack"
	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
)

// stack is everything the benchmark runs against, all on 127.0.0.1: the pinned Temporal dev
// server, the real worker and API binaries (child processes configured from the environment, as
// deployed), and, in this process, the CDE simulator and the local S3.
type stack struct {
	dir       string
	procs     *children
	local     *devstack.Stack // sim and s3
	sim       *cdesim.Sim
	s3        *s3local.Server
	tc        client.Client
	api       apiClient
	worker    *child
	simHTTP   *http.Client // trusts the simulator's CA, for the sequential client
	taskQueue string
}

// readiness bounds: generous for a loaded 2-core machine, but finite.
const (
	serviceReadyTimeout = 60 * time.Second
	readyPollInterval   = 100 * time.Millisecond
	stopGrace           = 10 * time.Second
)

// startStack builds the binaries and starts every part of the stack, failing ctx (through
// cancel) should a child die later. Whatever it started is registered in procs, the simulator and
// the local S3 are returned even on error, so that the caller's cleanup stops them.
func startStack(ctx context.Context, cancel context.CancelCauseFunc, moduleDir, dir string, extraWorkerEnv []string, untunedServer bool, procs *children, progress func(string, ...any)) (*stack, error) {
	st := &stack{dir: dir, procs: procs, taskQueue: "cde-bench"}

	progress("building cmd/worker and cmd/api, and the pinned Temporal CLI")
	binDir := filepath.Join(dir, "bin")
	if _, err := runQuiet(ctx, moduleDir, nil, "go", "build", "-o", binDir+string(os.PathSeparator), "./cmd/worker", "./cmd/api"); err != nil {
		return st, fmt.Errorf("build the worker and the API: %w", err)
	}
	temporalBin, err := devserver.CLI(ctx, moduleDir)
	if err != nil {
		return st, err
	}

	// 1. Temporal dev server, watched like the children.
	progress("starting the Temporal dev server")
	temporalLog, err := os.OpenFile(filepath.Join(dir, "temporal.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return st, fmt.Errorf("temporal: log file: %w", err)
	}
	srv, err := devserver.Start(ctx, devserver.Options{
		Bin: temporalBin, DBFile: filepath.Join(dir, "temporal.db"), Untuned: untunedServer,
		Env: childEnv(nil), Output: temporalLog,
	})
	if err != nil {
		temporalLog.Close()
		return st, err
	}
	tserver := temporalServer{srv, temporalLog}
	procs.add(tserver)
	procs.watch(ctx, tserver, cancel)
	temporalAddr := srv.Addr()
	progress("Temporal dev server on %s", temporalAddr)
	if st.tc, err = client.DialContext(ctx, client.Options{
		HostPort: temporalAddr, Namespace: devserver.Namespace,
		Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler)),
	}); err != nil {
		return st, fmt.Errorf("dial the Temporal dev server: %w", err)
	}

	// 2. CDE simulator and local S3, in this process.
	if st.local, err = devstack.Start(ctx, devstack.Options{
		Sim: cdesim.Options{
			// Big artifacts keep only size and digest, so that the simulator (in this process)
			// does not hold gigabytes; files up to 1 MiB, such as the provisioner's upload
			// manifest, are kept whole, because the worker reads them back to skip unchanged files.
			DigestOnlyUploads: true,
			KeepUploadsUpTo:   1 << 20,
		},
		S3: s3local.Options{
			Addr: "127.0.0.1:0", Buckets: []string{artifactBucket},
			// In the run's directory, so that its removal takes the 1 GiB object with it.
			Dir: filepath.Join(dir, "s3"),
		},
	}); err != nil {
		return st, err
	}
	st.sim, st.s3 = st.local.Sim, st.local.S3
	caPath := filepath.Join(dir, "cdesim-ca.pem")
	if err := st.sim.WriteCA(caPath); err != nil {
		return st, err
	}
	st.simHTTP = &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: st.sim.CertPool()},
		ForceAttemptHTTP2: true,
	}}

	// 3. The worker and the API: the real binaries, configured only through the environment.
	common := []string{
		"TEMPORAL_ADDRESS=" + temporalAddr,
		"TEMPORAL_NAMESPACE=" + devserver.Namespace,
		"TEMPORAL_TASK_QUEUE=" + st.taskQueue,
		// Not the CLI's default profile file (a developer's temporal.toml, perhaps with an API
		// key for a cluster of theirs): an empty file holds no profile.
		"TEMPORAL_CONFIG_FILE=" + os.DevNull,
		"LOG_LEVEL=info",
	}
	workerEnv := append(append([]string{}, common...), st.local.WorkerEnv(caPath)...)
	// The worker's probe listener defaults to :9090 on every interface: keep it on loopback, on a
	// port of its own, so that the benchmark neither exposes it nor clashes with a running stack.
	healthAddr, err := childproc.FreeLoopbackAddr(ctx)
	if err != nil {
		return st, err
	}
	workerEnv = append(append(workerEnv, "HEALTH_ADDR="+healthAddr), extraWorkerEnv...)
	progress("starting the worker")
	if st.worker, err = startChild("worker", filepath.Join(binDir, "worker"), nil, childEnv(workerEnv), filepath.Join(dir, "worker.log")); err != nil {
		return st, err
	}
	procs.add(st.worker)
	procs.watch(ctx, st.worker, cancel)

	apiAddr, err := childproc.FreeLoopbackAddr(ctx)
	if err != nil {
		return st, err
	}
	apiEnv := append(append([]string{}, common...),
		"HTTP_ADDR="+apiAddr,
		// Synchronous answers: the measured time is POST → 200 COMPLETED, with no polling.
		"SYNC_TIMEOUT=10m",
		// The unchanged redeploy must really run, not be answered from the dedupe window.
		"REQUEST_DEDUPE_WINDOW=0",
	)
	progress("starting the API on %s", apiAddr)
	apiChild, err := startChild("api", filepath.Join(binDir, "api"), nil, childEnv(apiEnv), filepath.Join(dir, "api.log"))
	if err != nil {
		return st, err
	}
	procs.add(apiChild)
	procs.watch(ctx, apiChild, cancel)
	st.api = apiClient{base: "http://" + apiAddr, http: &http.Client{Transport: &http.Transport{}}}

	if err := poll(ctx, "the API (GET /health)", serviceReadyTimeout, readyPollInterval, func(ctx context.Context) error {
		status, body, err := st.api.do(ctx, http.MethodGet, "/health", nil)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("HTTP %d: %s", status, truncate(body, 200))
		}
		return err
	}); err != nil {
		return st, err
	}
	if err := poll(ctx, "the worker (pollers on task queue "+st.taskQueue+")", serviceReadyTimeout, readyPollInterval, func(ctx context.Context) error {
		return hasPollers(ctx, st.tc, st.taskQueue)
	}); err != nil {
		return st, err
	}
	return st, nil
}

// close stops the in-process servers and the Temporal client (children are stopped by procs).
func (st *stack) close() {
	if st.tc != nil {
		st.tc.Close()
	}
	if st.local != nil {
		_ = st.local.Close()
	}
}

// temporalServer is the dev server among the harness's processes: stopped after the worker and
// the API, and failing the run should it exit on its own.
type temporalServer struct {
	*devserver.Server
	log *os.File
}

// stop stops the server with devserver's own grace (SIGINT, then SIGKILL after 10 s).
func (t temporalServer) stop(time.Duration) {
	t.Stop()
	_ = t.log.Close()
}

func (t temporalServer) exited() <-chan struct{} { return t.Done() }

func (t temporalServer) exitedUnexpectedly() error { return t.Err() }

// hasPollers succeeds once a worker polls the task queue for both workflow and activity tasks,
// so that the first measured run does not include the worker's start-up.
func hasPollers(ctx context.Context, tc client.Client, taskQueue string) error {
	for _, typ := range []enumspb.TaskQueueType{enumspb.TASK_QUEUE_TYPE_WORKFLOW, enumspb.TASK_QUEUE_TYPE_ACTIVITY} {
		resp, err := tc.DescribeTaskQueue(ctx, taskQueue, typ)
		if err != nil {
			return err
		}
		if len(resp.GetPollers()) == 0 {
			return fmt.Errorf("no %s pollers yet", typ)
		}
	}
	return nil
}

// poll calls check every interval until it succeeds, ctx ends, or timeout passes; the error
// then names what was awaited and the last failure. A bounded wait, never a fixed sleep.
func poll(ctx context.Context, what string, timeout, interval time.Duration, check func(context.Context) error) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		attemptCtx, cancel := context.WithDeadline(ctx, deadline)
		err := check(attemptCtx)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("waiting for %s: %w", what, context.Cause(ctx))
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%s not ready after %s: %w", what, timeout, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, context.Cause(ctx))
		case <-t.C:
		}
	}
}

// childEnv is the harness's environment without any configuration variable, plus set.
func childEnv(set []string) []string {
	return mergeEnv(os.Environ(), set)
}

// mergeEnv drops from base the variables that configure the worker and the API (see the
// README) and the Go runtime's memory knobs, then appends set: the children run with exactly
// what the benchmark sets, so that a developer's AWS_PROFILE or GOGC cannot change the figures.
func mergeEnv(base, set []string) []string {
	configPrefixes := []string{"AWS_", "CDP_", "CDE_", "TEMPORAL_", "S3_", "WORKER_", "UPLOAD_", "AUTH_", "TLS_", "OTEL_"}
	configNames := map[string]bool{
		"HTTP_ADDR": true, "SYNC_TIMEOUT": true, "REQUEST_DEDUPE_WINDOW": true, "MAX_REQUEST_BYTES": true,
		"SHUTDOWN_TIMEOUT": true, "LOG_LEVEL": true, "HEALTH_ADDR": true, "SSL_CERT_FILE": true, "SSL_CERT_DIR": true,
		"GOGC": true, "GOMEMLIMIT": true,
	}
	out := make([]string, 0, len(base)+len(set))
	for _, kv := range base {
		name, _, _ := strings.Cut(kv, "=")
		if configNames[name] || hasAnyPrefix(name, configPrefixes) {
			continue
		}
		out = append(out, kv)
	}
	return append(out, set...)
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
