package app

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
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
	acts, err := NewActivitiesWith(context.Background(), cfg, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sim.CertPool()}}, nil,
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

// Uploads go over HTTP/1.1, a connection each, where the API calls speak HTTP/2 to a server that
// offers it; both keep the tuning and the caller's TLS roots.
func TestUploadsHaveConnectionsOfTheirOwn(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	given := srv.Client().Transport.(*http.Transport)
	// The test server's client has spoken HTTP/2 once: its ALPN list offers h2.
	proto := func(rt http.RoundTripper) string {
		t.Helper()
		resp, err := (&http.Client{Transport: rt}).Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	api := tuneTransport(given)
	if got := proto(api); got != "HTTP/2.0" {
		t.Errorf("API calls speak %s, want HTTP/2.0", got)
	}
	up := uploadTransport(api)
	if got := proto(up); got != "HTTP/1.1" {
		t.Errorf("uploads speak %s, want HTTP/1.1", got)
	}
	if got := proto(api); got != "HTTP/2.0" {
		t.Errorf("after the uploads' transport was made, API calls speak %s", got)
	}
	tr := up.(*http.Transport)
	if tr.ResponseHeaderTimeout != ResponseHeaderTimeout || tr.MaxIdleConnsPerHost < 64 {
		t.Errorf("the uploads' transport lost the tuning: %+v", tr)
	}
	type wrapped struct{ http.RoundTripper }
	w := wrapped{api}
	if uploadTransport(w) != w {
		t.Error("a transport that is not an *http.Transport is used as it is")
	}
}
