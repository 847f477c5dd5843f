package health

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/witboost-community/cde-spark-provisioner/internal/testsupport"
)

// fakeTemporal answers CheckHealth with err, and records whether the call had a deadline.
type fakeTemporal struct {
	err         error
	hadDeadline bool
}

func (f *fakeTemporal) CheckHealth(ctx context.Context, _ *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	_, f.hadDeadline = ctx.Deadline()
	if f.err != nil {
		return nil, f.err
	}
	return &client.CheckHealthResponse{}, nil
}

func TestHandler(t *testing.T) {
	unreachable := errors.New("connection refused")
	started := func(h *Handler, c TemporalChecker) { h.Started(c) }
	notStarted := func(*Handler, TemporalChecker) {}
	stopping := func(h *Handler, c TemporalChecker) { h.Started(c); h.Stopping() }
	failed := func(h *Handler, c TemporalChecker) { h.Started(c); h.Failed(errors.New("namespace not found")) }
	tests := []struct {
		name       string
		temporal   error
		setup      func(*Handler, TemporalChecker)
		method     string
		path       string
		wantStatus int
		wantBody   string
	}{
		{"alive before the worker starts: a slow start is no reason to restart", nil, notStarted, http.MethodGet, "/healthz", 200, "ok"},
		{"not ready before the worker starts", nil, notStarted, http.MethodGet, "/readyz", 503, "not started"},
		{"ready once started and Temporal answers", nil, started, http.MethodGet, "/readyz", 200, "ok"},
		{"not ready when Temporal is unreachable", unreachable, started, http.MethodGet, "/readyz", 503, "temporal not reachable"},
		{"alive when Temporal is unreachable: an outage must not restart every worker", unreachable, started, http.MethodGet, "/healthz", 200, "ok"},
		{"not ready while stopping", nil, stopping, http.MethodGet, "/readyz", 503, "stopping"},
		{"alive while stopping: in-flight activities finish", nil, stopping, http.MethodGet, "/healthz", 200, "ok"},
		{"a fatal worker error fails liveness so the pod restarts", nil, failed, http.MethodGet, "/healthz", 503, "worker failed"},
		{"a fatal worker error fails readiness", nil, failed, http.MethodGet, "/readyz", 503, "worker failed"},
		{"HEAD is a probe too", nil, started, http.MethodHead, "/readyz", 200, ""},
		{"POST is refused", nil, started, http.MethodPost, "/readyz", 405, "method not allowed"},
		{"other paths are not found", nil, started, http.MethodGet, "/health", 404, "not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeTemporal{err: tt.temporal}
			h := New(WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
			tt.setup(h, fake)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
			body, _ := io.ReadAll(rec.Body)
			if rec.Code != tt.wantStatus || !strings.Contains(string(body), tt.wantBody) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tt.method, tt.path, rec.Code, body, tt.wantStatus, tt.wantBody)
			}
			if rec.Header().Get("Cache-Control") != "no-store" && rec.Code != 404 && rec.Code != 405 {
				t.Errorf("Cache-Control = %q, want no-store", rec.Header().Get("Cache-Control"))
			}
		})
	}
}

func TestReadinessBoundsTheTemporalCheck(t *testing.T) {
	// Without a deadline a hung frontend would hold the probe until Kubernetes gives up,
	// which reads as a probe timeout instead of "not ready: temporal ...".
	fake := &fakeTemporal{}
	h := New()
	h.Started(fake)
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if !fake.hadDeadline {
		t.Error("CheckHealth was called without a deadline")
	}
}

func TestServesOverHTTP(t *testing.T) {
	// The handler behind a real listener, as cmd/worker serves it on HEALTH_ADDR.
	h := New()
	h.Started(&fakeTemporal{})
	srv := httptest.NewServer(h) // binds 127.0.0.1
	defer srv.Close()
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %s, want 200", path, resp.Status)
		}
	}
}

// The probes answer whoever reaches the port: they say what is wrong, and the error itself (an
// address, a namespace, a TLS detail) goes to the log, once per change rather than per probe.
func TestProbesKeepErrorsForTheLog(t *testing.T) {
	const detail = "dial tcp 10.1.2.3:7233: x509: certificate signed by unknown authority"
	probe := func(h *Handler, path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}

	t.Run("Temporal unreachable", func(t *testing.T) {
		logs := &testsupport.SyncBuffer{}
		fake := &fakeTemporal{err: errors.New(detail)}
		h := New(WithLogger(slog.New(slog.NewJSONHandler(logs, nil))))
		h.Started(fake)
		for range 3 {
			code, body := probe(h, "/readyz")
			if code != http.StatusServiceUnavailable || strings.Contains(body, "10.1.2.3") || !strings.Contains(body, "temporal not reachable") {
				t.Errorf("GET /readyz = %d %q, want 503 naming Temporal without its error", code, body)
			}
		}
		if n := strings.Count(logs.String(), detail); n != 1 {
			t.Errorf("the error is logged %d times, want once: %s", n, logs)
		}
		fake.err = nil
		if code, _ := probe(h, "/readyz"); code != http.StatusOK {
			t.Errorf("GET /readyz = %d after the recovery", code)
		}
		if !strings.Contains(logs.String(), "Temporal is reachable again") {
			t.Errorf("the recovery is not logged: %s", logs)
		}
	})

	t.Run("worker failed", func(t *testing.T) {
		logs := &testsupport.SyncBuffer{}
		h := New(WithLogger(slog.New(slog.NewJSONHandler(logs, nil))))
		h.Started(&fakeTemporal{})
		h.Failed(errors.New("namespace prod-ns not found: " + detail))
		h.Failed(errors.New("second"))
		for _, path := range []string{"/healthz", "/readyz"} {
			code, body := probe(h, path)
			if code != http.StatusServiceUnavailable || strings.Contains(body, "prod-ns") || !strings.Contains(body, "worker failed") {
				t.Errorf("GET %s = %d %q, want 503 saying the worker failed without its error", path, code, body)
			}
		}
		if !strings.Contains(logs.String(), "namespace prod-ns not found") || strings.Contains(logs.String(), "second") {
			t.Errorf("the first fatal error, and only it, is logged: %s", logs)
		}
	})
}
