package api_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// The cases here are answered before any workflow is started, so no Temporal client is needed;
// everything past that is covered end to end (package e2e) against a real Temporal server.
func router() http.Handler {
	srv := api.New(api.Config{TaskQueue: "q", MaxBodyBytes: 1 << 10}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return srv.Router()
}

func do(t *testing.T, method, path, body string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	rec := httptest.NewRecorder()
	router().ServeHTTP(rec, req)
	var out map[string]any
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out), rec.Body.String())
	}
	return rec, out
}

func TestBadRequestsAreClear4xx(t *testing.T) {
	tests := []struct {
		name, method, path, body string
		status                   int
		field                    string
		message                  string
	}{
		{"malformed JSON", http.MethodPost, "/v1/provision", `{"descriptorKind":`, http.StatusBadRequest, "body", "not a valid ProvisioningRequest JSON"},
		{"JSON of the wrong shape", http.MethodPost, "/v1/provision", `["a"]`, http.StatusBadRequest, "body", "not a valid ProvisioningRequest JSON"},
		{"two JSON values", http.MethodPost, "/v1/unprovision", `{} {}`, http.StatusBadRequest, "body", "more than one JSON value"},
		{"a body above the limit", http.MethodPost, "/v1/provision", `{"descriptor":"` + strings.Repeat("x", 2000) + `"}`, http.StatusRequestEntityTooLarge, "", "request body above 1024 bytes"},
		{"another descriptor kind", http.MethodPost, "/v1/provision", `{"descriptorKind":"DATAPRODUCT_DESCRIPTOR","descriptor":"x"}`, http.StatusBadRequest, "descriptorKind", "descriptorKind not supported"},
		{"an undecodable descriptor on provision", http.MethodPost, "/v1/provision", `{"descriptorKind":"COMPONENT_DESCRIPTOR","descriptor":"xxx"}`, http.StatusBadRequest, "descriptor", "must be a YAML mapping"},
		{"an undecodable descriptor on async validate", http.MethodPost, "/v2/validate", `{"descriptorKind":"COMPONENT_DESCRIPTOR","descriptor":"- a"}`, http.StatusBadRequest, "descriptor", "must be a YAML mapping"},
		{"a malformed provision token", http.MethodGet, "/v1/provision/garbage/status", "", http.StatusBadRequest, "token", "not one this provisioner issued"},
		{"a token of a foreign workflow", http.MethodGet, "/v2/validate/" + api.EncodeToken("other/wf", "0b8a3a2e-1d4c-4f0e-9a55-3f5b6c7d8e9f") + "/status", "", http.StatusBadRequest, "token", "not one this provisioner issued"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, body := do(t, tt.method, tt.path, tt.body)
			assert.Equal(t, tt.status, rec.Code, rec.Body.String())
			require.NotNil(t, body)
			assert.NotEmpty(t, body["userMessage"])
			mi := body["moreInfo"].(map[string]any)
			assert.NotEmpty(t, mi["problems"])
			assert.NotEmpty(t, mi["solutions"])
			if tt.field != "" {
				assert.Equal(t, tt.field, body["inputErrorField"])
				assert.NotEmpty(t, body["errors"], "the deprecated errors list is filled")
			}
			assert.Contains(t, rec.Body.String(), tt.message)
		})
	}
}

func TestUndecodableDescriptorIsAnInvalidValidationNotAnError(t *testing.T) {
	rec, body := do(t, http.MethodPost, "/v1/validate", `{"descriptorKind":"COMPONENT_DESCRIPTOR","descriptor":"dataProduct: ["}`)
	require.Equal(t, http.StatusOK, rec.Code)
	assert.Equal(t, false, body["valid"])
	errs := body["error"].(map[string]any)["errors"].([]any)
	assert.Contains(t, errs[0], "The descriptor is not valid YAML")
}

func TestEndpointsNotImplementedAnswerASystemError(t *testing.T) {
	rec, body := do(t, http.MethodPost, "/v1/updateacl", `{}`)
	assert.Equal(t, http.StatusInternalServerError, rec.Code)
	assert.Contains(t, body["error"], "Endpoint not implemented")
	assert.NotEmpty(t, body["userMessage"])
	// Reverse provisioning is served: an empty request is a 400 naming what it lacks.
	rec, body = do(t, http.MethodPost, "/v1/reverse-provisioning", `{}`)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	assert.Contains(t, body["userMessage"], "The reverse-provisioning request is not valid")
	assert.Len(t, body["moreInfo"].(map[string]any)["problems"], 6, "four params, the environment, catalogInfo")
	rec, body = do(t, http.MethodGet, "/v1/nope", "")
	assert.Equal(t, http.StatusNotFound, rec.Code)
	assert.NotEmpty(t, body["userMessage"])
	rec, _ = do(t, http.MethodGet, "/v1/provision", "")
	assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
}

func TestTokens(t *testing.T) {
	id := workflows.ComponentWorkflowID("development", "urn:dmb:cmp:finance:cashflow:0:spark-wl")
	run := "0b8a3a2e-1d4c-4f0e-9a55-3f5b6c7d8e9f"
	token := api.EncodeToken(id, run)
	assert.NotContains(t, token, "/", "tokens are safe in a URL path")
	gotID, gotRun, err := api.DecodeToken(token)
	require.NoError(t, err)
	assert.Equal(t, id, gotID)
	assert.Equal(t, run, gotRun)

	for _, bad := range []string{"", "v1.", "v2." + token[3:], token + "!", api.EncodeToken(id, "not-a-uuid"), api.EncodeToken("other", run), strings.Repeat("v1.AAAA", 1000)} {
		_, _, err := api.DecodeToken(bad)
		assert.Error(t, err, bad)
	}
}

func TestPublicInfoKeepsTheWorkflowsOrder(t *testing.T) {
	info := api.PublicInfo{
		{Key: "jobName", Type: "string", Label: "CDE job", Value: "j"},
		{Key: "cdeService", Type: "string", Label: "CDE service", Value: "s"},
		{Key: "ui", Type: "link", Label: "Jobs UI", Value: "Open", Href: "https://x"},
	}
	b, err := json.Marshal(info)
	require.NoError(t, err)
	assert.Equal(t, `{"jobName":{"type":"string","label":"CDE job","value":"j"},"cdeService":{"type":"string","label":"CDE service","value":"s"},"ui":{"type":"link","label":"Jobs UI","value":"Open","href":"https://x"}}`, string(b))
}

func TestPublicInfoRoundTrips(t *testing.T) {
	in := api.PublicInfo{{Key: "b", Type: "string", Label: "B", Value: "1"}, {Key: "a", Type: "link", Label: "A", Value: "x", Href: "https://a"}}
	b, err := json.Marshal(in)
	require.NoError(t, err)
	var out api.PublicInfo
	require.NoError(t, json.Unmarshal(b, &out))
	assert.Equal(t, in, out)
	assert.Error(t, json.Unmarshal([]byte(`[1]`), &out))
}

// A component id too long for Temporal's workflow ids is a problem of the request, not a failed
// start (no Temporal client is needed: it is answered before any run).
func TestAComponentIDTooLongForAWorkflowIDIsABadRequest(t *testing.T) {
	long := "urn:dmb:cmp:finance:cashflow:0:" + strings.Repeat("x", 990)
	text := `dataProduct:
  id: urn:dmb:dp:finance:cashflow:0
  environment: development
  components:
    - kind: workload
      id: ` + long + `
      specific:
        cdeService: cde-dev
        cdeCluster: vc-dev
        jobName: ` + descriptor.ExpectedJobName(long, "development") + `
        jar: s3://artifacts/app.jar
        className: com.example.App
componentIdToProvision: ` + long + "\n"
	body, err := json.Marshal(descriptor.Request{DescriptorKind: descriptor.ComponentDescriptor, Descriptor: text})
	require.NoError(t, err)
	srv := api.New(api.Config{TaskQueue: "q"}, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, path := range []string{"/v1/provision", "/v1/unprovision", "/v2/validate"} {
		rec := httptest.NewRecorder()
		srv.Router().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, strings.NewReader(string(body))))
		assert.Equal(t, http.StatusBadRequest, rec.Code, "%s: %s", path, rec.Body)
		assert.Contains(t, rec.Body.String(), "too long for this provisioner's workflow ids", path)
		assert.Contains(t, rec.Body.String(), `"inputErrorField":"componentIdToProvision"`, path)
	}
	rec := httptest.NewRecorder()
	srv.Router().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/validate", strings.NewReader(string(body))))
	assert.Equal(t, http.StatusOK, rec.Code)
	assert.Contains(t, rec.Body.String(), `"valid":false`)
}
