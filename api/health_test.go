package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/internal/testsupport"
)

func health(t *testing.T, pollers int) (int, map[string]any) {
	t.Helper()
	srv := api.New(api.Config{TaskQueue: "cde-q"}, testsupport.HealthyTemporal{Pollers: pollers}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return get(t, srv.Router(), "/health")
}

func get(t *testing.T, h http.Handler, path string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	var body map[string]any
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	return rec.Code, body
}

func TestHealthReportsTheWorkersPollingTheTaskQueue(t *testing.T) {
	code, body := health(t, 2)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, map[string]any{"status": "ok", "taskQueue": "cde-q", "workerPollers": float64(2)}, body)
}

// No worker is a warning, not a failure: an API taken out of service while the workers roll
// would refuse requests that only had to wait.
func TestHealthWarnsWithoutFailingWhenNoWorkerPolls(t *testing.T) {
	code, body := health(t, 0)
	assert.Equal(t, http.StatusOK, code)
	assert.Equal(t, float64(0), body["workerPollers"])
	assert.Contains(t, body["warning"], "no worker polls task queue cde-q")
	assert.Contains(t, body["warning"], "RUN_TIMEOUT")
}

// failingTemporal fails the health check with checkErr and the task queue description with
// describeErr (when set); any other method panics (nil embedded client).
type failingTemporal struct {
	client.Client
	checkErr, describeErr error
}

func (f *failingTemporal) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	if f.checkErr != nil {
		return nil, f.checkErr
	}
	return &client.CheckHealthResponse{}, nil
}

func (f *failingTemporal) DescribeTaskQueue(context.Context, string, enumspb.TaskQueueType) (*workflowservice.DescribeTaskQueueResponse, error) {
	if f.describeErr != nil {
		return nil, f.describeErr
	}
	return &workflowservice.DescribeTaskQueueResponse{}, nil
}

// What a dependency's error says (its address, its namespace, a TLS or authentication detail)
// is for the operators: /health answers anyone, so it names the dependency that is down and the
// log has the error, once per change rather than once per probe.
func TestHealthNamesTheFailingDependencyAndLogsItsError(t *testing.T) {
	const detail = "connection error: desc = transport: dial tcp 10.1.2.3:7233: x509: certificate signed by unknown authority (namespace prod-secret-ns)"
	tests := []struct {
		name      string
		fail      func(f *failingTemporal, err error)
		status    int
		want      map[string]any
		logged    string
		recovered string
	}{
		{"Temporal unreachable is a 503 that says so", func(f *failingTemporal, err error) { f.checkErr = err }, http.StatusServiceUnavailable,
			map[string]any{"status": "unavailable", "temporal": "unreachable", "warning": "Temporal is not reachable: the API's log says why"},
			"health: Temporal is not reachable", "health: Temporal is reachable again"},
		{"a task queue that cannot be described is a warning", func(f *failingTemporal, err error) { f.describeErr = err }, http.StatusOK,
			map[string]any{"status": "ok", "taskQueue": "cde-q", "warning": "cannot tell whether workers poll task queue cde-q: the API's log says why"},
			"health: cannot describe the task queue", "health: the task queue can be described again"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &testsupport.SyncBuffer{}
			temporal := &failingTemporal{}
			router := api.New(api.Config{TaskQueue: "cde-q"}, temporal, slog.New(slog.NewJSONHandler(logs, nil))).Router()
			tt.fail(temporal, errors.New(detail))
			for range 3 {
				code, body := get(t, router, "/health")
				assert.Equal(t, tt.status, code)
				assert.Equal(t, tt.want, body)
			}
			assert.Equal(t, 1, strings.Count(logs.String(), tt.logged), "logged once per change: %s", logs)
			assert.Equal(t, 1, strings.Count(logs.String(), `"error":"`+detail+`"`), "%s", logs)

			// The recovery is logged, and the next failure is logged again.
			*temporal = failingTemporal{}
			code, _ := get(t, router, "/health")
			assert.Equal(t, http.StatusOK, code)
			assert.Equal(t, 1, strings.Count(logs.String(), tt.recovered), "%s", logs)
			tt.fail(temporal, errors.New(detail))
			get(t, router, "/health")
			assert.Equal(t, 2, strings.Count(logs.String(), tt.logged), "%s", logs)
		})
	}
}
