package app

import (
	"context"
	"crypto/tls"
	"net/http"
	"testing"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

// Every CDP and CDE request has a response-header timeout and a pool sized for concurrency; the
// caller's transport (its TLS roots) is kept and not modified.
func TestTuneTransport(t *testing.T) {
	roots := &tls.Config{MinVersion: tls.VersionTLS12}
	given := &http.Transport{TLSClientConfig: roots}
	tr, ok := tuneTransport(given).(*http.Transport)
	if !ok {
		t.Fatalf("tuned transport is %T", tuneTransport(given))
	}
	if tr == given || given.ResponseHeaderTimeout != 0 {
		t.Error("the caller's transport was modified")
	}
	if tr.ResponseHeaderTimeout != ResponseHeaderTimeout || tr.MaxIdleConnsPerHost < 64 || tr.MaxIdleConns < 256 ||
		tr.IdleConnTimeout == 0 || tr.TLSHandshakeTimeout == 0 || tr.DialContext == nil {
		t.Errorf("not tuned: %+v", tr)
	}
	if tr.TLSClientConfig.MinVersion != roots.MinVersion {
		t.Error("TLS configuration lost")
	}
	def, ok := tuneTransport(nil).(*http.Transport)
	if !ok || def == http.DefaultTransport || def.ResponseHeaderTimeout != ResponseHeaderTimeout || !def.ForceAttemptHTTP2 {
		t.Errorf("nil transport: %+v", def)
	}
	if def.Proxy == nil {
		t.Error("the default transport's proxy settings are kept")
	}
	type wrapped struct{ http.RoundTripper }
	w := wrapped{given}
	if tuneTransport(w) != http.RoundTripper(w) {
		t.Error("a RoundTripper that is not an *http.Transport is used as it is")
	}
}

// The jobs API client gets CDE_HTTP_TIMEOUT too (before, only CDP and Knox had it).
func TestActivitiesBoundEveryRequest(t *testing.T) {
	sim := cdesim.StartForTest(t, cdesim.DemoSeed(), cdesim.Options{})
	cfg := WorkerConfig{
		CDPEndpointURL: sim.ControlPlaneURL(), CDPAccessKeyID: cdesim.DemoAccessKeyID, CDPPrivateKey: cdesim.DemoPrivateKey,
		DeployRoleUser: cdesim.DemoUser, DeployRolePassword: cdesim.DemoPassword,
		S3: artifacts.Config{UsePathStyle: true}, HTTPTimeout: 7 * time.Second,
	}
	acts, err := NewActivities(context.Background(), cfg, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sim.CertPool()}},
		artifacts.WithEndpoint("http://127.0.0.1:1"), artifacts.WithRegion("us-east-1"), artifacts.WithStaticCredentials("k", "s", ""))
	if err != nil {
		t.Fatal(err)
	}
	if acts.HTTP.Timeout != cfg.HTTPTimeout {
		t.Errorf("jobs API client timeout %v, want %v", acts.HTTP.Timeout, cfg.HTTPTimeout)
	}
	tr, ok := acts.HTTP.Transport.(*http.Transport)
	if !ok || tr.ResponseHeaderTimeout != ResponseHeaderTimeout {
		t.Errorf("jobs API transport %T without a response-header timeout", acts.HTTP.Transport)
	}
	// And it works against the simulator: the CDP client reaches it through the same transport.
	if _, err := acts.CDP.FindService(context.Background(), cdesim.DemoService); err != nil {
		t.Fatal(err)
	}
}
