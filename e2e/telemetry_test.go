package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// A provision is one trace: the HTTP request, the workflow it starts, each activity and each
// call to CDP and CDE.
func TestAProvisionIsOneTraceFromTheRequestToTheCDECalls(t *testing.T) {
	srv := newAPI(t, nil)
	st.spans.Reset()
	traceparent := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/v1/provision", strings.NewReader(mustJSON(t, request(sparkJar(t, unique("traced"))))))
	require.NoError(t, err)
	req.Header.Set("traceparent", traceparent) // the Coordinator's trace, if it sends one
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, st.tel.ForceFlush(ctx))

	want := trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	names := map[string]bool{}
	var inTrace tracetest.SpanStubs
	for _, s := range st.spans.GetSpans() {
		if s.SpanContext.TraceID() == want {
			inTrace = append(inTrace, s)
			names[s.Name] = true
		}
	}
	for _, name := range []string{
		"POST /v1/provision",          // the HTTP request
		"StartWorkflow:cde.Provision", // the API starting the run
		"RunWorkflow:cde.Provision",   // the worker running it
		"RunActivity:ResolveTarget",   // an activity
		"RunActivity:SyncFiles",       //
		"RunActivity:UpsertJob",       //
		"cdp de.listServices",         // an outgoing control-plane call
		"cde resources.create",        // the resource for the files (the Knox token is cached by earlier runs)
		"cde jobs.create",             // the job creation in the virtual cluster
		"cde resources.file.put",      // an upload
	} {
		assert.True(t, names[name], "span %q in the request's trace; have %v", name, keys(names))
	}
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestMetricsAreServedForPrometheus(t *testing.T) {
	srv := newAPI(t, nil)
	provision(t, srv.URL, sparkJar(t, unique("metered")))

	a := call(t, http.MethodGet, srv.URL+"/metrics", nil)
	require.Equal(t, http.StatusOK, a.status)
	lines := strings.Split(string(a.body), "\n")
	// value returns the sum of the samples whose line holds every part (0 when none does).
	value := func(parts ...string) float64 {
		total := 0.0
		for _, l := range lines {
			if strings.HasPrefix(l, "#") {
				continue
			}
			all := true
			for _, p := range parts {
				all = all && strings.Contains(l, p)
			}
			if !all {
				continue
			}
			fields := strings.Fields(l)
			v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
			require.NoError(t, err, l)
			total += v
		}
		return total
	}
	for _, want := range [][]string{
		{"cde_api_requests_total{", `method="POST"`, `route="/v1/provision"`, `status="200"`}, // API requests
		{"cde_api_request_duration_seconds_count{", `route="/v1/provision"`},                  // and their latency
		{"temporal_request_total{"}, // the Temporal SDK's metrics
		{"temporal_activity_execution_latency_seconds_count{", `activity_type="SyncFiles"`},              //
		{"temporal_workflow_task_execution_latency_seconds_count{", `workflow_type="cde.Provision"`},     //
		{"cde_outgoing_requests_total{", `operation="jobs.create"`, `outcome="success"`, `system="cde"`}, // CDE calls
		{"cde_outgoing_requests_total{", `operation="resources.file.put"`, `system="cde"`},               //
		{"cde_outgoing_requests_total{", `operation="de.listServices"`, `system="cdp"`},                  // CDP calls
		{"cde_uploaded_bytes_total"},                                        // bytes uploaded
		{"cde_s3_requests_total{", `operation="stat"`, `outcome="success"`}, // S3 requests
		{"cde_artifact_files_total{", `action="uploaded"`},                  // files synced
		{"go_goroutines"}, // the runtime
	} {
		assert.Positive(t, value(want...), "a non-zero series with %q", want)
	}
	assert.NotContains(t, string(a.body), "v1.", "no token or raw path in any label")
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}
