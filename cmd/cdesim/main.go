// Command cdesim runs the Cloudera CDP/CDE simulator (package cde/cdesim)
// until SIGINT or SIGTERM: the CDP control plane, a Knox token host per CDE
// service and a jobs-API host per virtual cluster, over HTTPS with a CA
// generated at start.
//
//	cdesim -seed examples/cdesim-seed.yaml -ca-out .data/cdesim-ca.pem -port 8443 -port-base 8450
//
// It prints CDP_ENDPOINT_URL=… and SSL_CERT_FILE=… lines (ready to use as the
// worker's environment) and then one line per service and virtual cluster.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "cdesim:", err)
		os.Exit(1)
	}
}

// run starts the simulator and serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("cdesim", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seedPath := fs.String("seed", "", "seed YAML file (default: the built-in demo seed, same as examples/cdesim-seed.yaml)")
	caOut := fs.String("ca-out", "", "write the CA certificate (PEM) to this file, for SSL_CERT_FILE")
	listen := fs.String("listen", "127.0.0.1", "loopback IP to bind")
	port := fs.Int("port", 0, "control-plane port (0: ephemeral)")
	portBase := fs.Int("port-base", 0, "first port of the Knox and jobs-API hosts, taken in seed order (0: ephemeral)")
	tokenTTL := fs.Duration("token-ttl", time.Hour, "Knox token lifetime")
	skew := fs.Duration("max-skew", 15*time.Minute, "tolerated x-altus-date skew (negative: no check)")
	pending := fs.Duration("python-env-pending", time.Second, "time a python-env stays pending-build after its requirements upload")
	build := fs.Duration("python-env-build", 3*time.Second, "time a python-env then stays building")
	digestOnly := fs.Bool("digest-only", false, "keep only size and SHA-1 of uploaded files, not their bytes")
	patch := fs.String("patch", string(cdesim.PatchMerge), "PATCH /jobs semantics: merge (RFC 7386), replace or fieldwise")
	verbose := fs.Bool("v", false, "log every request (method, path, status; never secrets) to stderr")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Fprintln(stdout, version.String("cdesim"))
		return nil
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}

	switch cdesim.PatchMode(*patch) {
	case cdesim.PatchMerge, cdesim.PatchReplace, cdesim.PatchFieldwise:
	default:
		return fmt.Errorf("-patch %q: want merge, replace or fieldwise", *patch)
	}
	seed := cdesim.DemoSeed()
	if *seedPath != "" {
		var err error
		if seed, err = cdesim.LoadSeed(*seedPath); err != nil {
			return err
		}
	}
	opts := cdesim.Options{
		ListenIP: *listen, ControlPlanePort: *port, PortBase: *portBase,
		TokenTTL: *tokenTTL, MaxClockSkew: *skew,
		PythonEnvPending: *pending, PythonEnvBuild: *build, DigestOnlyUploads: *digestOnly,
		Patch: cdesim.PatchMode(*patch),
	}
	if *verbose {
		opts.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	sim, err := cdesim.Start(ctx, seed, opts)
	if err != nil {
		return err
	}
	defer sim.Close()

	fmt.Fprintf(stdout, "CDP_ENDPOINT_URL=%s\n", sim.ControlPlaneURL())
	if *caOut != "" {
		if err := os.MkdirAll(filepath.Dir(*caOut), 0o755); err != nil {
			return fmt.Errorf("create CA directory: %w", err)
		}
		if err := sim.WriteCA(*caOut); err != nil {
			return err
		}
		abs, err := filepath.Abs(*caOut)
		if err != nil {
			abs = *caOut
		}
		fmt.Fprintf(stdout, "SSL_CERT_FILE=%s\n", abs)
	}
	for _, s := range sim.Services() {
		fmt.Fprintf(stdout, "service %s (%s, %s) clusterFqdn=%s\n", s.Name, s.ClusterID, s.Status, s.ClusterFqdn)
		for _, v := range s.VCs {
			fmt.Fprintf(stdout, "  vc %s (%s, %s) vcApiUrl=%s\n", v.Name, v.VCID, v.Status, v.APIURL)
		}
	}
	fmt.Fprintln(stdout, "cdesim: ready; Ctrl-C to stop")

	<-ctx.Done()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := sim.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	fmt.Fprintln(stdout, "cdesim: stopped")
	return nil
}
