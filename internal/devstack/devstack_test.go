package devstack_test

import (
	"net/http"
	"slices"
	"testing"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/internal/devstack"
	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
)

func TestTheStackPointsAWorkerAtItsSimulatorAndS3(t *testing.T) {
	st, err := devstack.Start(t.Context(), devstack.Options{
		S3:           s3local.Options{Buckets: []string{"artifacts"}},
		SeedExamples: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })

	env := st.WorkerEnv("/tmp/ca.pem")
	for _, want := range append([]string{
		"CDP_ENDPOINT_URL=" + st.Sim.ControlPlaneURL(),
		"CDP_ACCESS_KEY_ID=" + cdesim.DemoAccessKeyID,
		"CDP_PRIVATE_KEY=" + cdesim.DemoPrivateKey,
		"CDP_DEPLOY_ROLE_USER=" + cdesim.DemoUser,
		"CDP_DEPLOY_ROLE_PASSWORD=" + cdesim.DemoPassword,
		"SSL_CERT_FILE=/tmp/ca.pem",
	}, st.S3.Env()...) {
		if !slices.Contains(env, want) {
			t.Errorf("WorkerEnv lacks %q: %q", want, env)
		}
	}

	// The transport trusts the simulator's certificate: any HTTP answer will do.
	client := &http.Client{Transport: st.Transport()}
	resp, err := client.Get(st.Sim.ControlPlaneURL())
	if err != nil {
		t.Fatalf("the simulator over TLS: %v", err)
	}
	_ = resp.Body.Close()
}

func TestAStackNeedsASeedWithCredentials(t *testing.T) {
	if _, err := devstack.Start(t.Context(), devstack.Options{Seed: &cdesim.Seed{}}); err == nil {
		t.Fatal("a seed without API key and workload user: want an error")
	}
}
