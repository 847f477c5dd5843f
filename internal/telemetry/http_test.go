package telemetry

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestOperationNamesCarryNoNameOrID(t *testing.T) {
	tests := []struct{ method, path, system, op string }{
		{"POST", "/api/v1/de/listServices", "cdp", "de.listServices"},
		{"POST", "/api/v1/datalake/describeDatalake", "cdp", "datalake.describeDatalake"},
		{"GET", "/gateway/authtkn/knoxtoken/api/v1/token", "knox", "token"},
		{"GET", "/dex/api/v1/jobs", "cde", "jobs.list"},
		{"POST", "/dex/api/v1/jobs", "cde", "jobs.create"},
		{"GET", "/dex/api/v1/jobs/finance-cashflow-0-wl-dev", "cde", "jobs.get"},
		{"PATCH", "/dex/api/v1/jobs/finance-cashflow-0-wl-dev", "cde", "jobs.update"},
		{"DELETE", "/dex/api/v1/jobs/x", "cde", "jobs.delete"},
		{"POST", "/dex/api/v1/jobs/x/run", "cde", "jobs.run"},
		{"POST", "/dex/api/v1/resources", "cde", "resources.create"},
		{"GET", "/dex/api/v1/resources/mainres-0123", "cde", "resources.get"},
		{"PUT", "/dex/api/v1/resources/mainres-0123/lib/a.jar", "cde", "resources.file.put"},
		{"DELETE", "/dex/api/v1/resources/mainres-0123/a.jar", "cde", "resources.file.delete"},
		{"GET", "/elsewhere", "other", "other"},
	}
	for _, tt := range tests {
		system, op := Operation(tt.method, tt.path)
		assert.Equal(t, tt.system, system, tt.path)
		assert.Equal(t, tt.op, op, tt.method+" "+tt.path)
	}
}

func TestOutcome(t *testing.T) {
	assert.Equal(t, "success", outcome(&http.Response{StatusCode: 201}, nil))
	assert.Equal(t, "client_error", outcome(&http.Response{StatusCode: 404}, nil))
	assert.Equal(t, "server_error", outcome(&http.Response{StatusCode: 503}, nil))
	assert.Equal(t, "network_error", outcome(nil, context.DeadlineExceeded))
	assert.Equal(t, "error", outcome(nil, errors.New("tls: bad certificate")))
}
