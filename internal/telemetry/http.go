package telemetry

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	noopmetric "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
)

// HTTPServerMetrics records the API's requests by route, method and status.
type HTTPServerMetrics struct {
	requests metric.Int64Counter
	duration metric.Float64Histogram
}

// NewHTTPServerMetrics creates the API's instruments: cde_api_requests_total and
// cde_api_request_duration_seconds, by route (the pattern, never a raw path with a token),
// method and status.
func (t *Telemetry) NewHTTPServerMetrics() (*HTTPServerMetrics, error) {
	m := t.Meter("cde-spark-provisioner/api")
	requests, err := m.Int64Counter("cde.api.requests", metric.WithDescription("Tech Adapter API requests by route, method and status"))
	if err != nil {
		return nil, err
	}
	duration, err := m.Float64Histogram("cde.api.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Tech Adapter API request latency (synchronous waits included)"),
		metric.WithExplicitBucketBoundaries(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
	if err != nil {
		return nil, err
	}
	return &HTTPServerMetrics{requests: requests, duration: duration}, nil
}

// Record records one request.
func (m *HTTPServerMetrics) Record(ctx context.Context, route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	attrs := metric.WithAttributes(attribute.String("route", route), attribute.String("method", method), attribute.Int("status", status))
	m.requests.Add(ctx, 1, attrs)
	m.duration.Record(ctx, d.Seconds(), attrs)
}

// Transport wraps an HTTP transport to CDP/CDE: every request gets a client span (child of the
// activity's) and is counted in cde_outgoing_requests_total / cde_outgoing_request_duration_seconds
// by system (cdp, knox, cde), operation (e.g. de.listServices, jobs.get, resources.file.put) and
// outcome (success, client_error, server_error, network_error).
func (t *Telemetry) Transport(base http.RoundTripper) (http.RoundTripper, error) {
	if base == nil {
		base = http.DefaultTransport
	}
	m := t.Meter("cde-spark-provisioner/outgoing")
	requests, err := m.Int64Counter("cde.outgoing.requests", metric.WithDescription("Requests to CDP, Knox and the CDE jobs API by operation and outcome"))
	if err != nil {
		return nil, err
	}
	duration, err := m.Float64Histogram("cde.outgoing.request.duration", metric.WithUnit("s"),
		metric.WithDescription("Latency of requests to CDP, Knox and the CDE jobs API (uploads included)"),
		metric.WithExplicitBucketBoundaries(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300))
	if err != nil {
		return nil, err
	}
	counted := roundTripFunc(func(req *http.Request) (*http.Response, error) {
		start := time.Now()
		resp, err := base.RoundTrip(req)
		system, op := Operation(req.Method, req.URL.Path)
		attrs := metric.WithAttributes(attribute.String("system", system), attribute.String("operation", op), attribute.String("outcome", outcome(resp, err)))
		requests.Add(req.Context(), 1, attrs)
		duration.Record(req.Context(), time.Since(start).Seconds(), attrs)
		return resp, err
	})
	return otelhttp.NewTransport(counted,
		otelhttp.WithTracerProvider(t.tracers),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		otelhttp.WithMeterProvider(noopmetric.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
			system, op := Operation(r.Method, r.URL.Path)
			return system + " " + op
		})), nil
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func outcome(resp *http.Response, err error) string {
	var netErr net.Error
	switch {
	case err != nil && (errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded)):
		return "network_error"
	case err != nil:
		return "error"
	case resp.StatusCode >= 500:
		return "server_error"
	case resp.StatusCode >= 400:
		return "client_error"
	}
	return "success"
}

// Operation names a CDP/CDE request for metrics and spans without any name or id from the path
// (bounded cardinality, nothing user-specific).
func Operation(method, path string) (system, operation string) {
	switch {
	case strings.HasPrefix(path, "/api/v1/"):
		// Control plane: /api/v1/<service>/<operation>, always POST.
		parts := strings.Split(strings.TrimPrefix(path, "/api/v1/"), "/")
		if len(parts) == 2 {
			return "cdp", parts[0] + "." + parts[1]
		}
		return "cdp", "other"
	case strings.Contains(path, "/knoxtoken/"):
		return "knox", "token"
	}
	i := strings.Index(path, "/dex/api/v1/")
	if i < 0 {
		return "other", "other"
	}
	parts := strings.Split(strings.Trim(path[i+len("/dex/api/v1/"):], "/"), "/")
	verb := map[string]string{http.MethodGet: "get", http.MethodPost: "create", http.MethodPatch: "update", http.MethodPut: "put", http.MethodDelete: "delete"}[method]
	if verb == "" {
		verb = strings.ToLower(method)
	}
	switch {
	case len(parts) == 1 && method == http.MethodGet:
		return "cde", parts[0] + ".list"
	case len(parts) == 1:
		return "cde", parts[0] + "." + verb
	case len(parts) == 2:
		return "cde", parts[0] + "." + verb
	case parts[0] == "resources":
		return "cde", "resources.file." + verb
	case parts[0] == "jobs" && len(parts) == 3:
		return "cde", "jobs." + parts[2]
	}
	return "cde", parts[0] + ".other"
}

// Handler traces the API's requests: a server span per request (continuing a W3C traceparent the
// caller sent), which the Temporal interceptor carries into the workflow it starts.
func (t *Telemetry) Handler(h http.Handler) http.Handler {
	return otelhttp.NewHandler(h, "http.request",
		otelhttp.WithTracerProvider(t.tracers),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		// Metrics of requests are the API's own (by route); otelhttp's would be by raw path.
		otelhttp.WithMeterProvider(noopmetric.NewMeterProvider()))
}
