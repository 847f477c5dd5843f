package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/internal/testsupport"
)

func health(t *testing.T, pollers int) (int, map[string]any) {
	t.Helper()
	srv := api.New(api.Config{TaskQueue: "cde-q"}, testsupport.HealthyTemporal{Pollers: pollers}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	rec := httptest.NewRecorder()
	srv.Router().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/health", nil))
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
