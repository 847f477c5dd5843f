package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/internal/telemetry"
	"github.com/witboost-community/cde-spark-provisioner/internal/testsupport"
)

// openRoutes are the only routes that answer without credentials: the probes and the scrape.
var openRoutes = []string{"GET /health", "GET /metrics"}

// routes walks the router and returns every "METHOD pattern" it serves.
func routes(t *testing.T, h http.Handler) []string {
	t.Helper()
	r, ok := h.(chi.Routes)
	require.True(t, ok, "the router is a chi router (%T)", h)
	var out []string
	require.NoError(t, chi.Walk(r, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, method+" "+route)
		return nil
	}))
	slices.Sort(out)
	return out
}

var urlParam = regexp.MustCompile(`\{[^}]*\}`)

// A route added outside the protected group would answer anyone: every route the router serves
// is called without credentials, and only the probes may answer.
func TestEveryRouteButTheProbesRefusesACallWithoutCredentials(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte("tok-0123456789abcdef0123456789abcdef\n"), 0o600))
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	modes := []struct {
		name      string
		auth      api.Auth
		challenge string
	}{
		{"bearer token", api.Auth{Token: api.NewTokenFile(tokenFile, 0, discard)}, `Bearer realm="cde-spark-provisioner"`},
		{"client certificate", api.Auth{ClientCert: true}, ""},
		{"both", api.Auth{Token: api.NewTokenFile(tokenFile, 0, discard), ClientCert: true}, `Bearer realm="cde-spark-provisioner"`},
	}
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "# metrics\n") })
			router := api.New(api.Config{TaskQueue: "q", Auth: mode.auth, Metrics: metrics}, testsupport.HealthyTemporal{Pollers: 1}, discard).Router()
			all := routes(t, router)
			// The walk sees the Tech Adapter routes, so the test cannot pass by walking nothing.
			for _, want := range []string{"POST /v1/provision", "POST /v1/unprovision", "POST /v1/validate", "POST /v2/validate",
				"GET /v1/provision/{token}/status", "GET /v2/validate/{token}/status"} {
				assert.Contains(t, all, want)
			}
			var open []string
			for _, route := range all {
				method, pattern, _ := strings.Cut(route, " ")
				req := httptest.NewRequest(method, urlParam.ReplaceAllString(pattern, "x"), strings.NewReader(`{}`))
				rec := httptest.NewRecorder()
				router.ServeHTTP(rec, req)
				if slices.Contains(openRoutes, route) {
					assert.Equal(t, http.StatusOK, rec.Code, "%s: %s", route, rec.Body)
					open = append(open, route)
					continue
				}
				assert.Equal(t, http.StatusUnauthorized, rec.Code, "%s answers without credentials: %s", route, rec.Body)
				assert.Equal(t, mode.challenge, rec.Header().Get("WWW-Authenticate"), route)
			}
			assert.Equal(t, openRoutes, open, "the probes stay open")
		})
	}
}

// Labels of the request metric come from bounded sets: any method but the standard ones is
// "other", and the route is the pattern chi matched or "unmatched". Requests with odd methods
// and paths never seen before add no series.
func TestRequestMetricLabelsAreBounded(t *testing.T) {
	ctx := context.Background()
	tel, err := telemetry.Setup(ctx, telemetry.Options{ServiceName: "api-test", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	metrics, err := tel.NewHTTPServerMetrics()
	require.NoError(t, err)
	logs := &testsupport.SyncBuffer{}
	router := api.New(api.Config{TaskQueue: "q", Observe: metrics.Record, Metrics: tel.MetricsHandler()},
		testsupport.HealthyTemporal{Pollers: 1}, slog.New(slog.NewJSONHandler(logs, nil))).Router()

	// burst sends requests of the same shapes with names seen nowhere before (marked with i).
	burst := func(i int) []string {
		var marks []string
		mark := func(s string) string {
			s = fmt.Sprintf("%s%dz", s, i)
			marks = append(marks, s)
			return s
		}
		requests := []struct{ method, path string }{
			{mark("PROPFIND"), "/health"},                                // an odd method on a route
			{mark("BREW"), "/" + mark("coffee")},                         // an odd method on no route
			{http.MethodGet, "/" + mark("random") + "/" + mark("path")},  // no route
			{http.MethodDelete, "/v1/provision"},                         // a route, another method
			{http.MethodGet, "/v1/provision/" + mark("tok") + "/status"}, // a route with a parameter
			{http.MethodGet, "/health"},
			{http.MethodGet, "/metrics"}, // the scrapes below
		}
		for _, r := range requests {
			router.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(r.method, r.path, nil))
		}
		return marks
	}
	series := func() []string {
		rec := httptest.NewRecorder()
		router.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		require.Equal(t, http.StatusOK, rec.Code)
		var out []string
		for _, line := range strings.Split(rec.Body.String(), "\n") {
			if strings.HasPrefix(line, "cde_api_requests_total{") {
				out = append(out, line[:strings.LastIndex(line, " ")]) // without the value
			}
		}
		slices.Sort(out)
		return out
	}

	first := burst(1)
	before := series()
	require.NotEmpty(t, before)
	var marks []string
	for i := 2; i <= 5; i++ {
		marks = append(marks, burst(i)...)
	}
	after := series()
	assert.Equal(t, before, after, "new methods and paths made new series")

	label := regexp.MustCompile(`(method|route)="([^"]*)"`)
	for _, s := range after {
		for _, m := range label.FindAllStringSubmatch(s, -1) {
			switch m[1] {
			case "method":
				assert.Contains(t, []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "other"}, m[2], s)
			case "route":
				assert.Contains(t, []string{"/health", "/metrics", "/v1/provision/{token}/status", "unmatched"}, m[2], s)
			}
		}
	}
	assert.Contains(t, after, `cde_api_requests_total{method="other",otel_scope_name="cde-spark-provisioner/api",otel_scope_schema_url="",otel_scope_version="",route="unmatched",status="405"}`)
	for _, m := range append(first, marks...) {
		assert.NotContains(t, strings.Join(after, "\n"), m)
		assert.NotContains(t, logs.String(), m, "the request log is bounded too")
	}
}
