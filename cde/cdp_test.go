package cde

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeCDP is a control-plane fake: it checks each request's signature the
// way the reference describes the server side and answers from a table of
// operation → (status, body).
type fakeCDP struct {
	t       *testing.T
	mu      sync.Mutex
	answers map[string]fakeAnswer
	seen    []seenRequest
}

type fakeAnswer struct {
	status int
	body   string
	header map[string]string
}

type seenRequest struct {
	Method, Path string
	Header       http.Header
	Body         map[string]any
}

func (f *fakeCDP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	_ = json.Unmarshal(raw, &body)
	f.mu.Lock()
	f.seen = append(f.seen, seenRequest{r.Method, r.URL.Path, r.Header.Clone(), body})
	op := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	a, ok := f.answers[op]
	f.mu.Unlock()
	if err := checkAltusSignature(r, testEd25519Key); err != nil {
		f.t.Errorf("%s: %v", r.URL.Path, err)
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if !ok {
		a = fakeAnswer{status: 404, body: `{"code":"NOT_FOUND","message":"no such operation"}`}
	}
	for k, v := range a.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

func (f *fakeCDP) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.seen...)
}

// checkAltusSignature verifies x-altus-auth as a server would.
func checkAltusSignature(r *http.Request, key string) error {
	paramsPart, sigPart, ok := strings.Cut(r.Header.Get("x-altus-auth"), ".")
	if !ok {
		return errors.New("x-altus-auth missing or without a dot")
	}
	rawParams, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(paramsPart, "="))
	if err != nil {
		return err
	}
	var params struct {
		AccessKeyID string `json:"access_key_id"`
		AuthMethod  string `json:"auth_method"`
	}
	if err := json.Unmarshal(rawParams, &params); err != nil {
		return err
	}
	if params.AccessKeyID != "ak-test" {
		return errors.New("wrong access key id " + params.AccessKeyID)
	}
	sig, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(sigPart, "="))
	if err != nil {
		return err
	}
	msg := r.Method + "\n" + r.Header.Get("Content-Type") + "\n" + r.Header.Get("x-altus-date") + "\n" + r.URL.Path + "\n" + params.AuthMethod
	return verifySignature(key, []byte(msg), sig)
}

func newFakeCDP(t *testing.T, answers map[string]fakeAnswer) (*fakeCDP, *CDPClient) {
	t.Helper()
	f := &fakeCDP{t: t, answers: answers}
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	c, err := NewCDPClient(CDPConfig{
		Endpoint:    srv.URL + "/",
		AccessKeyID: "ak-test",
		PrivateKey:  testEd25519Key,
		HTTPClient:  srv.Client(),
		Now:         func() time.Time { return signTime },
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func ok200(body string) fakeAnswer { return fakeAnswer{status: 200, body: body} }

func TestCDPEndpointsSendSignedRequestsAndParseFullBodies(t *testing.T) {
	f, c := newFakeCDP(t, map[string]fakeAnswer{
		"listServices": ok200(`{"services":[{"name":"cde-prod","clusterId":"cluster-abc123","environmentName":"env-prod",
			"status":"ClusterCreationCompleted","creatorEmail":"ops@example.com","enablingTime":"2024-01-10T10:00:00Z","unknown":1}]}`),
		"describeService": ok200(`{"service":{"name":"cde-prod","clusterId":"cluster-abc123","environmentName":"env-prod",
			"environmentCrn":"crn:env-123","status":"ClusterCreationCompleted","cloudPlatform":"AWS",
			"clusterFqdn":"service.cde-abcd.example.site","privateClusterEnabled":true,
			"resources":{"instance_type":"m5.2xlarge","min_instances":"1","max_instances":"10"},
			"chartValueOverrides":[{"chartName":"x","overrides":"y"}]}}`),
		"listVcs": ok200(`{"vcs":[{"vcId":"dex-app-xyz","vcName":"vc-etl","clusterId":"cluster-abc123","status":"AppInstalled",
			"VcUiUrl":"https://ui.example/","creatorEmail":"a@b","creatorName":"A"}]}`),
		"describeVc": ok200(`{"vc":{"vcId":"dex-app-xyz","vcName":"vc-etl","clusterId":"cluster-abc123","status":"AppInstalled",
			"vcApiUrl":"https://vc.example.site/dex/api/v1","sparkVersion":"SPARK3","vcTier":"CORE",
			"resources":{"cpuRequests":"20","memRequests":"80Gi"},"sparkConfigs":{"a":"b"},"chartValueOverrides":[]}}`),
		"listDatalakes": ok200(`{"datalakes":[{"datalakeName":"dl-prod","crn":"crn:dl-1","status":"RUNNING","environmentCrn":"crn:env-123"}]}`),
		"describeDatalake": ok200(`{"datalake":{"datalakeName":"dl-prod","crn":"crn:dl-1","status":"RUNNING","environmentCrn":"crn:env-123",
			"instanceGroups":[{"name":"idbroker","instances":[{"id":"i-0a","state":"HEALTHY","privateIp":"10.0.1.10","discoveryFQDN":"dl0.example"}]}]}}`),
	})
	ctx := context.Background()

	services, err := c.ListServices(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	wantServices := []ServiceSummary{{Name: "cde-prod", ClusterID: "cluster-abc123", EnvironmentName: "env-prod",
		Status: ServiceStatusRunning, CreatorEmail: "ops@example.com", EnablingTime: "2024-01-10T10:00:00Z"}}
	assertEqual(t, "services", services, wantServices)

	svc, err := c.DescribeService(ctx, "cluster-abc123")
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "service", *svc, ServiceDescription{Name: "cde-prod", ClusterID: "cluster-abc123", EnvironmentName: "env-prod",
		EnvironmentCrn: "crn:env-123", Status: ServiceStatusRunning, CloudPlatform: "AWS", ClusterFqdn: "service.cde-abcd.example.site",
		PrivateClusterEnabled: true, Resources: &ServiceResources{InstanceType: "m5.2xlarge", MinInstances: "1", MaxInstances: "10"}})

	vcs, err := c.ListVcs(ctx, "cluster-abc123")
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "vcs", vcs, []VcSummary{{VcID: "dex-app-xyz", VcName: "vc-etl", ClusterID: "cluster-abc123", Status: VcStatusRunning,
		VcUIURL: "https://ui.example/", CreatorEmail: "a@b", CreatorName: "A"}})

	vc, err := c.DescribeVc(ctx, "cluster-abc123", "dex-app-xyz")
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "vc", *vc, VcDescription{VcID: "dex-app-xyz", VcName: "vc-etl", ClusterID: "cluster-abc123", Status: VcStatusRunning,
		VcAPIURL: "https://vc.example.site/dex/api/v1", SparkVersion: "SPARK3", VcTier: "CORE",
		Resources: &VcResources{CPURequests: "20", MemRequests: "80Gi"}, SparkConfigs: map[string]string{"a": "b"}})

	lakes, err := c.ListDatalakes(ctx, ListDatalakesRequest{EnvironmentName: "env-prod"})
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "datalakes", lakes, []Datalake{{DatalakeName: "dl-prod", Crn: "crn:dl-1", Status: "RUNNING", EnvironmentCrn: "crn:env-123"}})

	dl, err := c.DescribeDatalake(ctx, "dl-prod")
	if err != nil {
		t.Fatal(err)
	}
	assertEqual(t, "datalake", dl.InstanceGroups, []InstanceGroup{{Name: "idbroker",
		Instances: []Instance{{ID: "i-0a", State: "HEALTHY", PrivateIP: "10.0.1.10", DiscoveryFQDN: "dl0.example"}}}})

	wantRequests := []struct {
		path string
		body map[string]any
	}{
		{"/api/v1/de/listServices", map[string]any{"removeDeleted": false}},
		{"/api/v1/de/describeService", map[string]any{"clusterId": "cluster-abc123"}},
		{"/api/v1/de/listVcs", map[string]any{"clusterId": "cluster-abc123"}},
		{"/api/v1/de/describeVc", map[string]any{"clusterId": "cluster-abc123", "vcId": "dex-app-xyz"}},
		{"/api/v1/datalake/listDatalakes", map[string]any{"environmentName": "env-prod"}},
		{"/api/v1/datalake/describeDatalake", map[string]any{"datalakeName": "dl-prod"}},
	}
	seen := f.requests()
	if len(seen) != len(wantRequests) {
		t.Fatalf("server saw %d requests, want %d", len(seen), len(wantRequests))
	}
	for i, w := range wantRequests {
		r := seen[i]
		if r.Method != http.MethodPost || r.Path != w.path {
			t.Errorf("request %d = %s %s, want POST %s", i, r.Method, r.Path, w.path)
		}
		assertEqual(t, w.path+" body", r.Body, w.body)
		for h, want := range map[string]string{
			"Content-Type": "application/json", "Accept": "application/json",
			"X-Altus-Date": "Mon, 02 Jan 2006 15:04:05 GMT", "User-Agent": "cde-spark-provisioner",
		} {
			if got := r.Header.Get(h); got != want {
				t.Errorf("%s: header %s = %q, want %q", w.path, h, got, want)
			}
		}
	}
}

func TestCDPEndpointsTolerateMinimalAndEmptyBodies(t *testing.T) {
	ctx := context.Background()
	for _, body := range []string{"", "{}", "null", `{"services":null,"vcs":null,"datalakes":null}`} {
		_, c := newFakeCDP(t, map[string]fakeAnswer{
			"listServices": ok200(body), "listVcs": ok200(body), "listDatalakes": ok200(body),
			"describeService": ok200(body), "describeVc": ok200(body), "describeDatalake": ok200(body),
		})
		if s, err := c.ListServices(ctx, true); err != nil || len(s) != 0 {
			t.Errorf("body %q: ListServices = %v, %v", body, s, err)
		}
		if v, err := c.ListVcs(ctx, "c"); err != nil || len(v) != 0 {
			t.Errorf("body %q: ListVcs = %v, %v", body, v, err)
		}
		if d, err := c.ListDatalakes(ctx, ListDatalakesRequest{}); err != nil || len(d) != 0 {
			t.Errorf("body %q: ListDatalakes = %v, %v", body, d, err)
		}
		// A describe answer without its object is not a success.
		if _, err := c.DescribeService(ctx, "c"); !errors.Is(err, ErrMalformedResponse) || IsTransient(err) {
			t.Errorf("body %q: DescribeService err = %v", body, err)
		}
		if _, err := c.DescribeVc(ctx, "c", "v"); !errors.Is(err, ErrMalformedResponse) {
			t.Errorf("body %q: DescribeVc err = %v", body, err)
		}
		if _, err := c.DescribeDatalake(ctx, "d"); !errors.Is(err, ErrMalformedResponse) {
			t.Errorf("body %q: DescribeDatalake err = %v", body, err)
		}
	}
	// Minimal objects: only the required fields.
	_, c := newFakeCDP(t, map[string]fakeAnswer{
		"describeService": ok200(`{"service":{"name":"s","clusterId":"c","environmentName":"e"}}`),
		"describeVc":      ok200(`{"vc":{"vcId":"v","vcName":"n","clusterId":"c"}}`),
	})
	if s, err := c.DescribeService(ctx, "c"); err != nil || *s != (ServiceDescription{Name: "s", ClusterID: "c", EnvironmentName: "e"}) {
		t.Errorf("DescribeService = %+v, %v", s, err)
	}
	if v, err := c.DescribeVc(ctx, "c", "v"); err != nil || v.VcAPIURL != "" || v.VcName != "n" {
		t.Errorf("DescribeVc = %+v, %v", v, err)
	}
}

func TestCDPErrorsCarryStatusCodeAndRequestID(t *testing.T) {
	_, c := newFakeCDP(t, map[string]fakeAnswer{
		"describeService": {status: 404, body: `{"code":"NOT_FOUND","message":"Cluster cluster-x not found"}`,
			header: map[string]string{"x-altus-request-id": "req-42"}},
		"listServices": {status: 403, body: `{"code":"PATH_DISABLED","message":"Data Engineering not enabled on CDP Tenant"}`},
		"listVcs":      {status: 504, body: `<html>gateway timeout</html>`},
	})
	_, err := c.DescribeService(context.Background(), "cluster-x")
	apiErr, ok := errors.AsType[*APIError](err)
	if !ok {
		t.Fatalf("err = %v, want *APIError", err)
	}
	want := APIError{Op: "describeService", Method: "POST", URL: "/api/v1/de/describeService", Status: 404,
		Code: "NOT_FOUND", Message: "Cluster cluster-x not found", RequestID: "req-42"}
	assertEqual(t, "APIError", *apiErr, want)
	if !errors.Is(err, ErrNotFound) || IsTransient(err) {
		t.Errorf("404 must be ErrNotFound and permanent: %v", err)
	}

	_, err = c.ListServices(context.Background(), false)
	if !errors.Is(err, ErrForbidden) || IsTransient(err) || !strings.Contains(err.Error(), "PATH_DISABLED") {
		t.Errorf("403 PATH_DISABLED: %v", err)
	}
	_, err = c.ListVcs(context.Background(), "c")
	if !IsTransient(err) || !strings.Contains(err.Error(), "gateway timeout") {
		t.Errorf("504 with an HTML body: %v", err)
	}
}

func TestFindServicePicksByExactNamePreferringRunning(t *testing.T) {
	list := `{"services":[
		{"name":"cde","clusterId":"c-deleted","status":"ClusterDeletionCompleted"},
		{"name":"cde-prod","clusterId":"c-prefix","status":"ClusterCreationCompleted"},
		{"name":"CDE","clusterId":"c-case","status":"ClusterCreationCompleted"},
		{"name":"cde","clusterId":"c-running","status":"ClusterCreationCompleted"},
		{"name":"cde","clusterId":"c-failed","status":"ClusterCreationFailed"},
		{"name":"gone","clusterId":"g-1","status":"ClusterDeletionCompleted"},
		{"name":"starting","clusterId":"s-deleted","status":"ClusterDeletionCompleted"},
		{"name":"starting","clusterId":"s-1","status":"ClusterProvisioning"}]}`
	f, c := newFakeCDP(t, map[string]fakeAnswer{"listServices": ok200(list)})
	tests := []struct {
		name, lookup, wantID, wantStatus string
	}{
		{"deleted and running share a name: the running one", "cde", "c-running", ServiceStatusRunning},
		{"only a deleted one: reported as deleted", "gone", "g-1", ServiceStatusDeleted},
		{"deleted and in progress: the live one", "starting", "s-1", "ClusterProvisioning"},
		{"exact, case-sensitive match", "CDE", "c-case", ServiceStatusRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := c.FindService(context.Background(), tt.lookup)
			if err != nil || s.ClusterID != tt.wantID || s.Status != tt.wantStatus {
				t.Errorf("FindService(%q) = %+v, %v; want %s %s", tt.lookup, s, err, tt.wantID, tt.wantStatus)
			}
		})
	}
	for _, missing := range []string{"cde-pro", "", "cd"} {
		if _, err := c.FindService(context.Background(), missing); !errors.Is(err, ErrNotFound) {
			t.Errorf("FindService(%q) err = %v, want ErrNotFound", missing, err)
		}
	}
	for _, r := range f.requests() {
		if r.Body["removeDeleted"] != false {
			t.Errorf("listServices sent removeDeleted=%v, want false", r.Body["removeDeleted"])
		}
	}
}

func TestFindVcPicksByExactNamePreferringRunning(t *testing.T) {
	_, c := newFakeCDP(t, map[string]fakeAnswer{"listVcs": ok200(`{"vcs":[
		{"vcId":"v-old","vcName":"etl","clusterId":"c","status":"AppDeleted"},
		{"vcId":"v-new","vcName":"etl","clusterId":"c","status":"AppInstalled"},
		{"vcId":"v-x","vcName":"etl-2","clusterId":"c","status":"AppInstalled"},
		{"vcId":"v-gone","vcName":"old","clusterId":"c","status":"AppDeleted"}]}`)})
	v, err := c.FindVc(context.Background(), "c", "etl")
	if err != nil || v.VcID != "v-new" {
		t.Errorf("FindVc(etl) = %+v, %v", v, err)
	}
	v, err = c.FindVc(context.Background(), "c", "old")
	if err != nil || v.Status != VcStatusDeleted {
		t.Errorf("FindVc(old) = %+v, %v", v, err)
	}
	if _, err := c.FindVc(context.Background(), "c", "et"); !errors.Is(err, ErrNotFound) {
		t.Errorf("FindVc(et) err = %v", err)
	}
}

func TestFindServicePassesListErrorsThrough(t *testing.T) {
	_, c := newFakeCDP(t, map[string]fakeAnswer{"listServices": {status: 503, body: `{"code":"UNAVAILABLE"}`}})
	_, err := c.FindService(context.Background(), "cde")
	if !IsTransient(err) || errors.Is(err, ErrNotFound) {
		t.Errorf("a 503 while listing must stay transient, not become not-found: %v", err)
	}
}

func TestIDBrokerHosts(t *testing.T) {
	lakes := ok200(`{"datalakes":[
		{"datalakeName":"dl-other","crn":"crn:dl-0","environmentCrn":"crn:env-other","status":"RUNNING"},
		{"datalakeName":"dl-old","crn":"crn:dl-1","environmentCrn":"crn:env-123","status":"STOPPED"},
		{"datalakeName":"dl-prod","crn":"crn:dl-2","environmentCrn":"crn:env-123","status":"RUNNING"}]}`)
	tests := []struct {
		name     string
		describe fakeAnswer
		envCrn   string
		want     []string
		wantErr  error
	}{
		{
			name: "private IPs of the idbroker group, in order, skipping instances without one",
			describe: ok200(`{"datalake":{"datalakeName":"dl-prod","instanceGroups":[
				{"name":"master","instances":[{"id":"m","privateIp":"10.0.0.1"}]},
				{"name":"idbroker","instances":[{"id":"a","privateIp":"10.0.1.10"},{"id":"b"},{"id":"c","privateIp":"10.0.1.11"}]}]}}`),
			envCrn: "crn:env-123", want: []string{"10.0.1.10", "10.0.1.11"},
		},
		{
			name:     "no idbroker instance group is a clear error",
			describe: ok200(`{"datalake":{"datalakeName":"dl-prod","instanceGroups":[{"name":"master","instances":[]}]}}`),
			envCrn:   "crn:env-123", wantErr: ErrNoIDBroker,
		},
		{
			name:     "idbroker group without private IPs is a clear error",
			describe: ok200(`{"datalake":{"datalakeName":"dl-prod","instanceGroups":[{"name":"idbroker","instances":[{"id":"a"}]}]}}`),
			envCrn:   "crn:env-123", wantErr: ErrNoIDBroker,
		},
		{
			name:   "no datalake for the environment is not found",
			envCrn: "crn:env-none", wantErr: ErrNotFound,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := newFakeCDP(t, map[string]fakeAnswer{"listDatalakes": lakes, "describeDatalake": tt.describe})
			got, err := c.IDBrokerHosts(context.Background(), tt.envCrn)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if tt.wantErr == ErrNoIDBroker && !strings.Contains(err.Error(), `"idbroker"`) {
					t.Errorf("error %q does not name the instance group", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertEqual(t, "ips", got, tt.want)
			seen := f.requests()
			if got := seen[len(seen)-1].Body["datalakeName"]; got != "dl-prod" {
				t.Errorf("described datalake %v, want the RUNNING one of the environment, dl-prod", got)
			}
		})
	}
	_, c := newFakeCDP(t, nil)
	if _, err := c.IDBrokerHosts(context.Background(), ""); err == nil {
		t.Error("an empty environment CRN must be an error")
	}
}

func TestNewCDPClientValidatesConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  CDPConfig
	}{
		{"plain http endpoint", CDPConfig{Endpoint: "http://api.example.com", AccessKeyID: "a", PrivateKey: testEd25519Key}},
		{"endpoint without host", CDPConfig{Endpoint: "https://", AccessKeyID: "a", PrivateKey: testEd25519Key}},
		{"missing access key id", CDPConfig{PrivateKey: testEd25519Key}},
		{"bad key", CDPConfig{AccessKeyID: "a", PrivateKey: "not-a-key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewCDPClient(tt.cfg); err == nil {
				t.Error("want an error")
			}
		})
	}
	c, err := NewCDPClient(CDPConfig{AccessKeyID: "a", PrivateKey: testEd25519Key})
	if err != nil || c.endpoint != DefaultCDPEndpoint {
		t.Errorf("default endpoint: %v %v", c, err)
	}
}

func assertEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\n got %#v\nwant %#v", what, got, want)
	}
}
