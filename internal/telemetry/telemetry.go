// Package telemetry sets up what operators observe: Prometheus metrics (OpenTelemetry meters
// exported on /metrics, the Temporal SDK's own metrics included) and traces (OpenTelemetry,
// exported over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set, off otherwise), from the HTTP
// request through the workflow to each activity and outgoing CDP/CDE call.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/client"
	tempotel "go.temporal.io/sdk/contrib/opentelemetry"
)

// Options configure Setup.
type Options struct {
	// ServiceName names the process in traces (OTEL_SERVICE_NAME overrides it).
	ServiceName string
	// Version is the build's version, a resource attribute of traces.
	Version string
	// SpanExporter, when set, receives the spans (tests); otherwise OTLP is used when
	// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, and tracing is
	// off when neither is.
	SpanExporter sdktrace.SpanExporter
	Logger       *slog.Logger
}

// Telemetry is the process's meter and tracer providers and its /metrics handler.
type Telemetry struct {
	registry *prometheus.Registry
	meters   *sdkmetric.MeterProvider
	tracers  trace.TracerProvider
	shutdown []func(context.Context) error
	logger   *slog.Logger
}

// Setup creates the providers. Shutdown flushes them.
func Setup(ctx context.Context, opts Options) (*Telemetry, error) {
	logger := opts.Logger
	if logger == nil {
		logger = slog.Default()
	}
	t := &Telemetry{registry: prometheus.NewRegistry(), logger: logger}
	// Process and Go runtime metrics, as every Go service exports them.
	t.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exporter, err := otelprom.New(otelprom.WithRegisterer(t.registry))
	if err != nil {
		return nil, fmt.Errorf("prometheus exporter: %w", err)
	}
	t.meters = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exporter))
	t.shutdown = append(t.shutdown, t.meters.Shutdown)

	name := opts.ServiceName
	if v := os.Getenv("OTEL_SERVICE_NAME"); v != "" {
		name = v
	}
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(name), semconv.ServiceVersion(opts.Version))
	spans := opts.SpanExporter
	if spans == nil && (os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "") {
		// The exporter reads the standard OTEL_EXPORTER_OTLP_* variables (endpoint, headers,
		// TLS, timeout) itself.
		spans, err = otlptracegrpc.New(ctx)
		if err != nil {
			return nil, fmt.Errorf("OTLP trace exporter: %w", err)
		}
	}
	if spans == nil {
		t.tracers = noop.NewTracerProvider()
	} else {
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(spans), sdktrace.WithResource(res))
		t.tracers = tp
		t.shutdown = append(t.shutdown, tp.Shutdown)
	}
	return t, nil
}

// Shutdown flushes pending spans and stops the providers.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	for _, f := range t.shutdown {
		errs = append(errs, f(ctx))
	}
	return errors.Join(errs...)
}

// ForceFlush exports the spans ended so far (tests, and before a process exits).
func (t *Telemetry) ForceFlush(ctx context.Context) error {
	if tp, ok := t.tracers.(*sdktrace.TracerProvider); ok {
		return tp.ForceFlush(ctx)
	}
	return nil
}

// MetricsHandler serves the Prometheus metrics.
func (t *Telemetry) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(t.registry, promhttp.HandlerOpts{Registry: t.registry})
}

// Meter returns a meter of the process.
func (t *Telemetry) Meter(name string) metric.Meter { return t.meters.Meter(name) }

// TemporalClientOptions adds the Temporal SDK's metrics and tracing to client options: the SDK
// metrics (temporal_request_*, temporal_activity_*, temporal_workflow_*...) go to /metrics, and
// the tracing interceptor carries the HTTP request's span into the workflow and its activities
// (workers created from the client inherit it).
func (t *Telemetry) TemporalClientOptions(opts *client.Options) error {
	opts.MetricsHandler = tempotel.NewMetricsHandler(tempotel.MetricsHandlerOptions{
		Meter:                t.meters.Meter("temporal-sdk-go"),
		UseMonotonicCounters: true,
		// The handler panics on a meter error by default: a metric must never take the worker down.
		OnError: func(err error) { t.logger.Warn("Temporal SDK metric not recorded", "error", err) },
	})
	tracing, err := tempotel.NewTracingInterceptor(tempotel.TracerOptions{Tracer: t.tracers.Tracer("temporal-sdk-go")})
	if err != nil {
		return fmt.Errorf("Temporal tracing interceptor: %w", err)
	}
	opts.Interceptors = append(opts.Interceptors, tracing)
	return nil
}
