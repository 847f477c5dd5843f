package cdesim_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

func TestSignedRequestsAreAccepted(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	tests := []struct {
		name string
		sg   signer
	}{
		{"Ed25519 with padded base64 and a zero-padded date (Go SDK)", demoSigner},
		{"Ed25519 with unpadded base64 and Java's unpadded day", signer{keyID: cdesim.DemoAccessKeyID, key: demoPrivKey, date: t0.Format(javaDateLayout)}},
		{"Ed25519 with Python's spaced auth params", signer{keyID: cdesim.DemoAccessKeyID, key: demoPrivKey, padded: true, spaced: true}},
		{"RSA with padded base64", signer{keyID: rsaKeyID, key: rsaKey, padded: true}},
		{"RSA with unpadded base64 (Java SDK)", signer{keyID: rsaKeyID, key: rsaKey}},
		{"Ed25519 key registered by its public key", signer{keyID: pubOnlyID, key: pubOnlyKey, padded: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.cp(t, tt.sg, "de/listServices", map[string]any{"removeDeleted": true})
			wantStatus(t, r, http.StatusOK)
			if r.header.Get("x-altus-request-id") == "" {
				t.Error("no x-altus-request-id header")
			}
			if n := len(r.json(t)["services"].([]any)); n == 0 {
				t.Error("no services listed")
			}
		})
	}
}

func TestSignatureRejections(t *testing.T) {
	otherKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	tests := []struct {
		name    string
		opts    cdesim.Options
		mutate  func(*http.Request, *env)
		status  int
		code    string
		message string
	}{
		{
			name: "unknown access key id is 401 UNAUTHENTICATED",
			mutate: func(r *http.Request, e *env) {
				signer{keyID: "nobody", key: demoPrivKey, padded: true}.sign(t, r, e.clock.Now(), "")
			},
			status: 401, code: "UNAUTHENTICATED", message: "unknown access key id",
		},
		{
			name: "signature by another key is 401",
			mutate: func(r *http.Request, e *env) {
				signer{keyID: cdesim.DemoAccessKeyID, key: otherKey, padded: true}.sign(t, r, e.clock.Now(), "")
			},
			status: 401, code: "UNAUTHENTICATED", message: "signature does not match",
		},
		{
			name: "signature over another path is 401",
			mutate: func(r *http.Request, e *env) {
				demoSigner.sign(t, r, e.clock.Now(), "/api/v1/de/listVcs")
			},
			status: 401, code: "UNAUTHENTICATED", message: "signature does not match",
		},
		{
			name: "content type changed after signing is 401",
			mutate: func(r *http.Request, e *env) {
				demoSigner.sign(t, r, e.clock.Now(), "")
				r.Header.Set("Content-Type", "text/plain")
			},
			status: 401, code: "UNAUTHENTICATED", message: "signature does not match",
		},
		{
			name: "RSA key used with the ed25519v1 method is 401",
			mutate: func(r *http.Request, e *env) {
				demoSigner.sign(t, r, e.clock.Now(), "")
				params := base64.URLEncoding.EncodeToString([]byte(`{"access_key_id":"` + rsaKeyID + `","auth_method":"ed25519v1"}`))
				_, sig, _ := strings.Cut(r.Header.Get("x-altus-auth"), ".")
				r.Header.Set("x-altus-auth", params+"."+sig)
			},
			status: 401, code: "UNAUTHENTICATED", message: "does not match the access key",
		},
		{
			name: "date 16 minutes old is 401 with the default skew",
			mutate: func(r *http.Request, e *env) {
				demoSigner.sign(t, r, e.clock.Now().Add(-16*time.Minute), "")
			},
			status: 401, code: "UNAUTHENTICATED", message: "away from the server time",
		},
		{
			name: "date 2 minutes ahead is 401 when skew is 1 minute",
			opts: cdesim.Options{MaxClockSkew: time.Minute},
			mutate: func(r *http.Request, e *env) {
				demoSigner.sign(t, r, e.clock.Now().Add(2*time.Minute), "")
			},
			status: 401, code: "UNAUTHENTICATED", message: "away from the server time",
		},
		{
			name: "unparseable date is 401",
			mutate: func(r *http.Request, e *env) {
				signer{keyID: cdesim.DemoAccessKeyID, key: demoPrivKey, date: "2026-03-02T09:04:05Z"}.sign(t, r, e.clock.Now(), "")
			},
			status: 401, code: "UNAUTHENTICATED", message: "not an RFC 1123 GMT date",
		},
		{
			name: "missing x-altus-auth is 401",
			mutate: func(r *http.Request, e *env) {
				demoSigner.sign(t, r, e.clock.Now(), "")
				r.Header.Del("x-altus-auth")
			},
			status: 401, code: "UNAUTHENTICATED", message: "missing x-altus-auth",
		},
		{
			name: "missing x-altus-date is 401",
			mutate: func(r *http.Request, e *env) {
				demoSigner.sign(t, r, e.clock.Now(), "")
				r.Header.Del("x-altus-date")
			},
			status: 401, code: "UNAUTHENTICATED", message: "missing x-altus-date",
		},
		{
			name: "x-altus-auth without a dot is 401",
			mutate: func(r *http.Request, e *env) {
				demoSigner.sign(t, r, e.clock.Now(), "")
				r.Header.Set("x-altus-auth", "garbage")
			},
			status: 401, code: "UNAUTHENTICATED", message: "malformed x-altus-auth",
		},
		{
			name: "auth failures can be configured as 403",
			opts: cdesim.Options{AuthFailureStatus: 403},
			mutate: func(r *http.Request, e *env) {
				signer{keyID: "nobody", key: demoPrivKey, padded: true}.sign(t, r, e.clock.Now(), "")
			},
			status: 403, code: "FORBIDDEN", message: "unknown access key id",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts)
			req, _ := http.NewRequest(http.MethodPost, e.sim.ControlPlaneURL()+"/api/v1/de/listServices", strings.NewReader(`{}`))
			req.Header.Set("Content-Type", "application/json")
			tt.mutate(req, e)
			r := do(t, e.http, req)
			wantStatus(t, r, tt.status)
			body := r.json(t)
			if body["code"] != tt.code || !strings.Contains(body["message"].(string), tt.message) {
				t.Errorf("body %s, want code %s and message containing %q", r.body, tt.code, tt.message)
			}
		})
	}
}

func TestSkewCheckCanBeDisabled(t *testing.T) {
	e := newEnv(t, cdesim.Options{MaxClockSkew: -1})
	sg := demoSigner
	sg.date = t0.Add(-48 * time.Hour).Format(goDateLayout)
	wantStatus(t, e.cp(t, sg, "de/listServices", map[string]any{}), http.StatusOK)
}

func names(items []any, key string) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.(map[string]any)[key].(string))
	}
	return out
}

func TestListServices(t *testing.T) {
	tests := []struct {
		name          string
		opts          cdesim.Options
		advance       time.Duration
		removeDeleted bool
		want          string
	}{
		{"removeDeleted=false lists deleted services", cdesim.Options{}, 0, false, "cde-dev,cde-old,cde-stage"},
		{"removeDeleted=true still lists a recently deleted service", cdesim.Options{}, 0, true, "cde-dev,cde-old,cde-stage"},
		{"removeDeleted=true hides a service deleted longer than the retention", cdesim.Options{}, 2 * time.Hour, true, "cde-dev,cde-stage"},
		{"negative retention hides deleted services at once", cdesim.Options{DeletedServiceRetention: -1}, 0, true, "cde-dev,cde-stage"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts)
			e.clock.Advance(tt.advance)
			r := e.cp(t, demoSigner, "de/listServices", map[string]any{"removeDeleted": tt.removeDeleted})
			wantStatus(t, r, 200)
			if got := strings.Join(names(r.json(t)["services"].([]any), "name"), ","); got != tt.want {
				t.Errorf("services %s, want %s", got, tt.want)
			}
		})
	}
}

func TestDescribeServiceAndVCGiveTheKnoxHostAndVcApiUrl(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	dev := e.service(t, cdesim.DemoService)

	r := e.cp(t, demoSigner, "de/describeService", map[string]any{"clusterId": dev.ClusterID})
	wantStatus(t, r, 200)
	svc := r.json(t)["service"].(map[string]any)
	if svc["clusterFqdn"] != dev.ClusterFqdn || !strings.HasPrefix(dev.ClusterFqdn, "127.0.0.1:") {
		t.Errorf("clusterFqdn %v, want %s (127.0.0.1:port)", svc["clusterFqdn"], dev.ClusterFqdn)
	}
	if svc["environmentCrn"] != cdesim.DemoEnvironmentCRN || svc["status"] != cdesim.StatusServiceRunning {
		t.Errorf("service %v", svc)
	}
	if res := svc["resources"].(map[string]any); res["instance_type"] == nil {
		t.Errorf("resources use snake_case strings: %v", res)
	}

	r = e.cp(t, demoSigner, "de/listVcs", map[string]any{"clusterId": dev.ClusterID})
	wantStatus(t, r, 200)
	vcs := r.json(t)["vcs"].([]any)
	if got := names(vcs, "vcName"); len(got) != 1 || got[0] != cdesim.DemoVC {
		t.Fatalf("vcs %v", got)
	}
	vcID := vcs[0].(map[string]any)["vcId"].(string)

	r = e.cp(t, demoSigner, "de/describeVc", map[string]any{"clusterId": dev.ClusterID, "vcId": vcID})
	wantStatus(t, r, 200)
	vc := r.json(t)["vc"].(map[string]any)
	want := e.vc(t, cdesim.DemoService, cdesim.DemoVC).APIURL
	if vc["vcApiUrl"] != want || !strings.HasPrefix(want, "https://127.0.0.1:") || !strings.HasSuffix(want, "/dex/api/v1") {
		t.Errorf("vcApiUrl %v, want %s", vc["vcApiUrl"], want)
	}
	if vc["status"] != cdesim.StatusVCRunning {
		t.Errorf("vc status %v", vc["status"])
	}
	stage := e.vc(t, "cde-stage", "vc-stage")
	if stage.Status != "AppInstalling" || stage.APIURL == want {
		t.Errorf("each VC has its own host and status: %+v", stage)
	}
}

func TestControlPlaneErrors(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	dev := e.service(t, cdesim.DemoService)
	tests := []struct {
		name   string
		op     string
		body   any
		status int
		code   string
	}{
		{"describeService of an unknown cluster is 404 NOT_FOUND", "de/describeService", map[string]any{"clusterId": "cluster-nope"}, 404, "NOT_FOUND"},
		{"describeService without clusterId is 400 INVALID_ARGUMENT", "de/describeService", map[string]any{}, 400, "INVALID_ARGUMENT"},
		{"listVcs of an unknown cluster is 404", "de/listVcs", map[string]any{"clusterId": "cluster-nope"}, 404, "NOT_FOUND"},
		{"describeVc without vcId is 400", "de/describeVc", map[string]any{"clusterId": dev.ClusterID}, 400, "INVALID_ARGUMENT"},
		{"describeVc of a VC of another service is 404", "de/describeVc", map[string]any{"clusterId": dev.ClusterID, "vcId": "dex-app-stg00001"}, 404, "NOT_FOUND"},
		{"malformed body is 400", "de/listServices", "not an object", 400, "INVALID_ARGUMENT"},
		{"unknown operation is 404", "de/createVc", map[string]any{}, 404, "NOT_FOUND"},
		{"describeDatalake of an unknown datalake is 404", "datalake/describeDatalake", map[string]any{"datalakeName": "nope"}, 404, "NOT_FOUND"},
		{"describeDatalake without a name is 400", "datalake/describeDatalake", map[string]any{}, 400, "INVALID_ARGUMENT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.cp(t, demoSigner, tt.op, tt.body)
			wantStatus(t, r, tt.status)
			if got := r.json(t); got["code"] != tt.code || got["message"] == "" {
				t.Errorf("body %s, want code %s and a message", r.body, tt.code)
			}
		})
	}
}

func TestEmptyListVcsStatusIsConfigurable(t *testing.T) {
	e := newEnv(t, cdesim.Options{EmptyListVcsStatus: 504})
	info, err := e.sim.AddService(t.Context(), cdesim.ServiceSeed{Name: "cde-empty"})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.cp(t, demoSigner, "de/listVcs", map[string]any{"clusterId": info.ClusterID}), 504)
}

func TestDatalakeGivesIdbrokerPrivateIPs(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	r := e.cp(t, demoSigner, "datalake/listDatalakes", map[string]any{"environmentName": cdesim.DemoEnvironmentCRN})
	wantStatus(t, r, 200)
	dls := r.json(t)["datalakes"].([]any)
	if len(dls) != 1 || dls[0].(map[string]any)["environmentCrn"] != cdesim.DemoEnvironmentCRN {
		t.Fatalf("datalakes %s", r.body)
	}
	r = e.cp(t, demoSigner, "datalake/listDatalakes", map[string]any{"environmentName": "other-env"})
	if n := len(r.json(t)["datalakes"].([]any)); n != 0 {
		t.Errorf("filter by environment: %d datalakes", n)
	}

	name := dls[0].(map[string]any)["datalakeName"]
	r = e.cp(t, demoSigner, "datalake/describeDatalake", map[string]any{"datalakeName": name})
	wantStatus(t, r, 200)
	var ips []string
	for _, g := range r.json(t)["datalake"].(map[string]any)["instanceGroups"].([]any) {
		g := g.(map[string]any)
		if g["name"] != "idbroker" {
			continue
		}
		for _, in := range g["instances"].([]any) {
			ips = append(ips, in.(map[string]any)["privateIp"].(string))
		}
	}
	if strings.Join(ips, ",") != "10.10.1.10,10.10.1.11" {
		t.Errorf("idbroker IPs %v", ips)
	}
}

func TestControlPlaneAcceptsOnlyPOST(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	req, _ := http.NewRequest(http.MethodGet, e.sim.ControlPlaneURL()+"/api/v1/de/listServices", nil)
	demoSigner.sign(t, req, e.clock.Now(), "")
	r := do(t, e.http, req)
	wantStatus(t, r, http.StatusMethodNotAllowed)
}
