// Command dev runs the whole provisioner locally for `make run`: the pinned Temporal dev server
// (a child process, with its Web UI), the CDE simulator, a local S3 with the sample artifacts,
// the worker and the API. It prints the URLs and ready-to-paste curl commands; Ctrl-C stops
// everything. It needs nothing but Go: the Temporal CLI is built from tools/temporal on first use.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/app"
	"github.com/witboost-community/cde-spark-provisioner/internal/devserver"
	"github.com/witboost-community/cde-spark-provisioner/internal/devstack"
	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
	"github.com/witboost-community/cde-spark-provisioner/internal/telemetry"
)

// Local addresses of the stack, all on loopback.
const (
	temporalAddr = "127.0.0.1:7233"
	temporalUI   = "127.0.0.1:8233"
	apiAddr      = "127.0.0.1:8093"
	s3Addr       = "127.0.0.1:9100"
	dataDir      = ".data"
	seedFile     = "examples/cdesim-seed.yaml"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "make run:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	if err := os.MkdirAll(filepath.Join(dataDir, "requests"), 0o755); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(dataDir, "stack.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()
	logger := app.NewLogger(app.LogConfig{Level: envOr("LOG_LEVEL", "info")}, logFile)

	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "cde-spark-provisioner-dev", Logger: logger})
	if err != nil {
		return err
	}
	defer func() { _ = tel.Shutdown(context.Background()) }()

	// 1. Temporal: the pinned CLI's dev server, with SQLite persistence and the Web UI.
	temporal, stopTemporal, err := startTemporal(ctx)
	if err != nil {
		return err
	}
	defer stopTemporal()
	// The dev server started above, whatever Temporal settings (TEMPORAL_* variables, the CLI's
	// profile file) the developer's shell has: an empty TemporalEnv reads none of them.
	dev := app.TemporalConfig{Address: temporalAddr, Namespace: "default", Env: app.TemporalEnv{}}
	tc, err := app.DialTemporalWith(ctx, dev, logger, 2*time.Minute, tel)
	if err != nil {
		return err
	}
	defer tc.Close()

	// 2. The CDE simulator, from the example seed, and 3. a local S3 with the sample artifacts of
	// examples/.
	seed, err := cdesim.LoadSeed(seedFile)
	if err != nil {
		return err
	}
	local, err := devstack.Start(ctx, devstack.Options{
		Seed:         &seed,
		Sim:          cdesim.Options{Logger: logger.With("component", "cdesim")},
		S3:           s3local.Options{Addr: s3Addr, Buckets: []string{"artifacts"}},
		SeedExamples: true,
	})
	if err != nil {
		return err
	}
	defer local.Close()
	sim, s3 := local.Sim, local.S3
	caPath := filepath.Join(dataDir, "cdesim-ca.pem")
	if err := sim.WriteCA(caPath); err != nil {
		return err
	}

	// 4. The worker, configured like a deployed one: from the environment, where the local
	// stack's values are the defaults.
	defaults := map[string]string{
		"TEMPORAL_ADDRESS": temporalAddr,
		// The examples keep each data product's artifacts under its domain and name.
		"S3_ALLOWED_PREFIXES": "s3://artifacts/{domain}/{dataProduct}/",
		"HTTP_ADDR":           apiAddr,
	}
	// The simulator's endpoint and credentials, the local S3's path style and region. These
	// defaults feed only the configuration: the S3 endpoint and credentials go to the store
	// below, the simulator's CA to the worker's transport.
	for _, kv := range local.WorkerEnv(caPath) {
		name, value, _ := strings.Cut(kv, "=")
		defaults[name] = value
	}
	var wcfg app.WorkerConfig
	var acfg app.APIConfig
	for _, target := range []any{&wcfg, &acfg} {
		if err := envconfig.ProcessWith(ctx, &envconfig.Config{
			Target:   target,
			Lookuper: envconfig.MultiLookuper(envconfig.OsLookuper(), envconfig.MapLookuper(defaults)),
		}); err != nil {
			return fmt.Errorf("configuration: %w", err)
		}
	}
	// The worker and the API use the client dialled above: the same namespace.
	for _, t := range []*app.TemporalConfig{&wcfg.Temporal, &acfg.Temporal} {
		t.Address, t.Namespace, t.Env = dev.Address, dev.Namespace, dev.Env
	}
	acts, err := app.NewActivitiesWith(ctx, wcfg, local.Transport(), tel,
		artifacts.WithEndpoint(s3.URL()), artifacts.WithStaticCredentials("local", "local-secret", ""))
	if err != nil {
		return err
	}
	workerDone := make(chan error, 1)
	go func() { workerDone <- app.RunWorker(ctx, wcfg, tc, acts, logger.With("component", "worker")) }()

	// 5. The API.
	ln, err := net.Listen("tcp", acfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (is another `make run` running?): %w", acfg.HTTPAddr, err)
	}
	apiDone := make(chan error, 1)
	go func() { apiDone <- app.RunAPIWith(ctx, acfg, tc, ln, logger.With("component", "api"), tel) }()

	requests, err := writeRequests()
	if err != nil {
		return err
	}
	printBanner(sim, s3, caPath, requests, acfg)

	select {
	case <-ctx.Done():
	case err := <-workerDone:
		return fmt.Errorf("worker stopped: %w", err)
	case err := <-apiDone:
		return fmt.Errorf("API stopped: %w", err)
	case <-temporal.Done():
		return temporal.Err()
	}
	fmt.Println("\nStopping...")
	<-apiDone
	<-workerDone
	return nil
}

// startTemporal builds the pinned Temporal CLI if needed and starts its dev server, with its
// database and log in .data/; the returned function stops it gracefully.
func startTemporal(ctx context.Context) (*devserver.Server, func(), error) {
	fmt.Println("Building the pinned Temporal CLI (tools/temporal; the first time takes a few minutes)...")
	bin, err := devserver.CLI(ctx, ".")
	if err != nil {
		return nil, nil, err
	}
	logFile, err := os.Create(filepath.Join(dataDir, "temporal.log"))
	if err != nil {
		return nil, nil, err
	}
	fmt.Println("Temporal dev server starting (logs in .data/temporal.log)...")
	_, uiPort, _ := net.SplitHostPort(temporalUI)
	srv, err := devserver.Start(ctx, devserver.Options{
		Bin: bin, Addr: temporalAddr, UIPort: uiPort,
		DBFile: filepath.Join(dataDir, "temporal.db"), Output: logFile,
	})
	if err != nil {
		logFile.Close()
		return nil, nil, err
	}
	return srv, func() {
		srv.Stop()
		logFile.Close()
	}, nil
}

// writeRequests writes a ProvisioningRequest JSON per example, for curl -d @file.
func writeRequests() (map[string]string, error) {
	examples, err := filepath.Glob("examples/*.yaml")
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, ex := range examples {
		if filepath.Base(ex) == filepath.Base(seedFile) {
			continue
		}
		text, err := os.ReadFile(ex)
		if err != nil {
			return nil, err
		}
		body, err := json.MarshalIndent(descriptor.Request{DescriptorKind: descriptor.ComponentDescriptor, Descriptor: string(text)}, "", "  ")
		if err != nil {
			return nil, err
		}
		name := strings.TrimSuffix(filepath.Base(ex), ".yaml")
		path := filepath.Join(dataDir, "requests", name+".json")
		if err := os.WriteFile(path, body, 0o644); err != nil {
			return nil, err
		}
		out[name] = path
	}
	return out, nil
}

func printBanner(sim *cdesim.Sim, s3 *s3local.Server, caPath string, requests map[string]string, acfg app.APIConfig) {
	// The API's address and access settings may come from the environment (see the README).
	apiURL := "http://" + acfg.HTTPAddr
	curlOpts := ""
	if acfg.TLSCertFile != "" {
		apiURL = "https://" + acfg.HTTPAddr
		curlOpts += " --cacert <the CA of TLS_CERT_FILE>"
		if acfg.TLSClientCAFile != "" {
			curlOpts += " --cert <client cert> --key <client key>"
		}
	}
	if acfg.AuthTokenFile != "" {
		curlOpts += fmt.Sprintf(" -H \"Authorization: Bearer $(cat %s)\"", acfg.AuthTokenFile)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\nThe CDE Spark provisioner is running locally.\n\n")
	fmt.Fprintf(&b, "  Tech Adapter API   %s   (GET /health, GET /metrics)\n", apiURL)
	fmt.Fprintf(&b, "  Temporal Web UI    http://%s   (every run, by component: CdeComponentId = \"...\")\n", temporalUI)
	fmt.Fprintf(&b, "  Temporal frontend  %s\n", temporalAddr)
	fmt.Fprintf(&b, "  CDP simulator      %s   (CA: %s)\n", sim.ControlPlaneURL(), caPath)
	fmt.Fprintf(&b, "  Local S3           %s   (bucket artifacts, path-style)\n", s3.URL())
	fmt.Fprintf(&b, "  Logs               .data/stack.log, .data/temporal.log\n\n")
	fmt.Fprintf(&b, "Provision the sample Spark job:\n\n")
	fmt.Fprintf(&b, "  curl -s%s %s/v1/provision -H 'Content-Type: application/json' -d @%s\n\n", curlOpts, apiURL, requests["spark-jar"])
	fmt.Fprintf(&b, "Then validate or unprovision it with /v1/validate and /v1/unprovision and the same body.\n")
	fmt.Fprintf(&b, "Other samples: ")
	first := true
	for name, path := range requests {
		if name == "spark-jar" {
			continue
		}
		if !first {
			b.WriteString(", ")
		}
		first = false
		b.WriteString(path)
	}
	fmt.Fprintf(&b, "\n\nCtrl-C stops everything.\n")
	fmt.Print(b.String())
}

func envOr(key, def string) string {
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	return def
}
