// Package devstack assembles the pieces of the local stack that make run (cmd/dev), make bench
// (cmd/bench) and the end-to-end tests (e2e) share: the CDE simulator and the local S3 that a
// worker of the stack talks to, and the environment that points a worker at them. The pinned
// Temporal dev server of the stack is started by internal/devserver; each user keeps its own
// worker and API set-up.
package devstack

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
)

// Options says how to start the stack.
type Options struct {
	// Seed is the simulator's seed; nil: cdesim.DemoSeed(). The worker environment uses its
	// first API key and its first workload user.
	Seed *cdesim.Seed
	// Sim are the simulator's options (timings, upload handling, logger).
	Sim cdesim.Options
	// S3 are the local S3's options (address, buckets, directory).
	S3 s3local.Options
	// SeedExamples puts the sample artifacts of the repository's examples into the local S3
	// (s3local.SeedExamples).
	SeedExamples bool
}

// Stack is a running CDE simulator and local S3, all on 127.0.0.1.
type Stack struct {
	Sim  *cdesim.Sim
	S3   *s3local.Server
	seed cdesim.Seed
}

// Start starts the simulator and the local S3, and seeds the S3 when asked. On error whatever
// it started is stopped.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	seed := cdesim.DemoSeed()
	if opts.Seed != nil {
		seed = *opts.Seed
	}
	if len(seed.APIKeys) == 0 || len(seed.WorkloadUsers) == 0 {
		return nil, errors.New("devstack: the simulator's seed needs an API key and a workload user for the worker")
	}
	sim, err := cdesim.Start(ctx, seed, opts.Sim)
	if err != nil {
		return nil, fmt.Errorf("start the CDE simulator: %w", err)
	}
	st := &Stack{Sim: sim, seed: seed}
	if st.S3, err = s3local.Start(ctx, opts.S3); err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("start local S3: %w", err)
	}
	if opts.SeedExamples {
		if err := s3local.SeedExamples(ctx, st.S3); err != nil {
			_ = st.Close()
			return nil, fmt.Errorf("seed local S3: %w", err)
		}
	}
	return st, nil
}

// Close stops the local S3 and the simulator.
func (st *Stack) Close() error {
	var err error
	if st.S3 != nil {
		err = st.S3.Close()
	}
	return errors.Join(err, st.Sim.Close())
}

// WorkerEnv is the environment, as NAME=VALUE, that points a worker at the stack: the
// simulator's control plane with the seed's credentials, caFile (where the caller wrote the
// simulator's CA with Sim.WriteCA) as SSL_CERT_FILE, and the local S3 (s3local.Server.Env:
// endpoint, path style, region, credentials).
func (st *Stack) WorkerEnv(caFile string) []string {
	key, user := st.seed.APIKeys[0], st.seed.WorkloadUsers[0]
	return append([]string{
		"CDP_ENDPOINT_URL=" + st.Sim.ControlPlaneURL(),
		"CDP_ACCESS_KEY_ID=" + key.AccessKeyID,
		"CDP_PRIVATE_KEY=" + key.PrivateKey,
		"CDP_DEPLOY_ROLE_USER=" + user.Name,
		"CDP_DEPLOY_ROLE_PASSWORD=" + user.Password,
		"SSL_CERT_FILE=" + caFile,
	}, st.S3.Env()...)
}

// Transport is an HTTP transport that trusts the simulator's certificates, for a worker run in
// the caller's own process, where SSL_CERT_FILE would have to be set before the process starts.
func (st *Stack) Transport() *http.Transport {
	return &http.Transport{TLSClientConfig: &tls.Config{RootCAs: st.Sim.CertPool()}}
}
