// Command s3local runs the local S3-compatible server of package s3local, seeded with a sample
// artifact for every S3 location named by the example descriptors, until SIGINT or SIGTERM.
// It is the demo profile's artifact store in docker-compose.yml (`make run` starts the same
// server in-process):
//
//	s3local -addr 127.0.0.1:9000 -examples /examples
//
// The server checks no signature and listens on 127.0.0.1 only, so in compose it shares the
// worker's network namespace: only the worker reaches it. It prints the worker's environment
// (AWS_ENDPOINT_URL_S3=…, S3_USE_PATH_STYLE=true, …) and then "s3local: ready".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
	"github.com/witboost-community/cde-spark-provisioner/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "s3local:", err)
		os.Exit(1)
	}
}

// run starts the server, seeds it and serves until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("s3local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:9000", "listen address (127.0.0.1 only: the server has no authentication)")
	dir := fs.String("dir", "", "directory of the objects (default: a temporary directory, removed on exit)")
	examples := fs.String("examples", "", "directory of the example descriptors to seed from (default: examples/ of the repository around the working directory)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Fprintln(stdout, version.String("s3local"))
		return nil
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *examples == "" {
		var err error
		if *examples, err = s3local.ExamplesDir(); err != nil {
			return err
		}
	}

	srv, err := s3local.Start(ctx, s3local.Options{Addr: *addr, Dir: *dir})
	if err != nil {
		return err
	}
	defer srv.Close()
	// Seed before saying ready: the compose health check and the worker rely on the samples
	// being there once the server answers.
	if err := s3local.SeedExamplesFrom(ctx, srv, os.DirFS(*examples)); err != nil {
		return err
	}
	for _, kv := range srv.Env() {
		fmt.Fprintln(stdout, kv)
	}
	fmt.Fprintln(stdout, "s3local: ready; Ctrl-C to stop")
	<-ctx.Done()
	if err := srv.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	fmt.Fprintln(stdout, "s3local: stopped")
	return nil
}
