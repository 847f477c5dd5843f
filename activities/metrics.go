package activities

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Metrics are the activities' own instruments (the Temporal SDK measures the activities
// themselves; CDP/CDE calls are measured by the HTTP transport). A nil *Metrics records nothing.
type Metrics struct {
	uploadedBytes metric.Int64Counter
	files         metric.Int64Counter
	s3Calls       metric.Int64Counter
}

// NewMetrics creates the instruments: cde_uploaded_bytes_total, cde_artifact_files_total{action}
// and cde_s3_requests_total{operation,outcome}.
func NewMetrics(m metric.Meter) (*Metrics, error) {
	uploaded, err := m.Int64Counter("cde.uploaded.bytes", metric.WithUnit("By"),
		metric.WithDescription("Bytes of artifacts streamed from S3 into CDE resources, those of attempts sent again included"))
	if err != nil {
		return nil, err
	}
	files, err := m.Int64Counter("cde.artifact.files", metric.WithDescription("Artifact files synced, by action (uploaded, unchanged, removed)"))
	if err != nil {
		return nil, err
	}
	s3, err := m.Int64Counter("cde.s3.requests", metric.WithDescription("S3 requests by operation (stat, get) and outcome"))
	if err != nil {
		return nil, err
	}
	return &Metrics{uploadedBytes: uploaded, files: files, s3Calls: s3}, nil
}

func (m *Metrics) uploaded(ctx context.Context, n int64) {
	if m != nil && n > 0 {
		m.uploadedBytes.Add(ctx, n)
	}
}

func (m *Metrics) file(ctx context.Context, action string) {
	if m != nil {
		m.files.Add(ctx, 1, metric.WithAttributes(attribute.String("action", action)))
	}
}

func (m *Metrics) s3(ctx context.Context, op string, err error, missing bool) {
	if m == nil {
		return
	}
	outcome := "success"
	switch {
	case missing:
		outcome = "not_found"
	case err != nil:
		outcome = "error"
	}
	m.s3Calls.Add(ctx, 1, metric.WithAttributes(attribute.String("operation", op), attribute.String("outcome", outcome)))
}
