package cdesim_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

func TestKnoxTokenEndpoint(t *testing.T) {
	e := newEnv(t, cdesim.Options{TokenTTL: 30 * time.Minute})
	tests := []struct {
		name       string
		user, pass string
		status     int
	}{
		{"workload user with the right password gets a token", cdesim.DemoUser, cdesim.DemoPassword, 200},
		{"wrong password is 401", cdesim.DemoUser, "nope", 401},
		{"unknown user is 401", "mallory", cdesim.DemoPassword, 401},
		{"no credentials is 401", "", "", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.knox(t, cdesim.DemoService, tt.user, tt.pass)
			wantStatus(t, r, tt.status)
			if tt.status != 200 {
				if r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
				return
			}
			body := r.json(t)
			for _, f := range []string{"access_token", "token_id", "managed", "token_type", "expires_in", "endpoint_public_cert"} {
				if _, ok := body[f]; !ok {
					t.Errorf("token response lacks %s: %s", f, r.body)
				}
			}
			if body["managed"] != "false" || body["token_type"] != "Bearer" {
				t.Errorf("managed must be a string and token_type Bearer: %s", r.body)
			}
			if got, want := int64(body["expires_in"].(float64)), t0.Add(30*time.Minute).UnixMilli(); got != want {
				t.Errorf("expires_in %d, want epoch ms %d", got, want)
			}
		})
	}
}

func TestKnoxAcceptsPOSTAndCapsLifespan(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	req, _ := http.NewRequest(http.MethodPost, e.service(t, cdesim.DemoService).TokenURL+"?lifespan=PT5M", nil)
	req.SetBasicAuth(cdesim.DemoUser, cdesim.DemoPassword)
	r := do(t, e.http, req)
	wantStatus(t, r, 200)
	if got, want := int64(r.json(t)["expires_in"].(float64)), t0.Add(5*time.Minute).UnixMilli(); got != want {
		t.Errorf("expires_in %d, want %d", got, want)
	}
}

func TestKnoxOfADeletedServiceIsNotFound(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	r := e.knox(t, "cde-old", cdesim.DemoUser, cdesim.DemoPassword)
	wantStatus(t, r, 404)
}

func TestBearerTokenOnTheJobsAPI(t *testing.T) {
	tests := []struct {
		name    string
		opts    cdesim.Options
		token   func(t *testing.T, e *env) string
		advance time.Duration
		status  int
	}{
		{"token of the VC's service is accepted", cdesim.Options{},
			func(t *testing.T, e *env) string { return e.token(t, cdesim.DemoService) }, 0, 200},
		{"token one second before expiry is accepted", cdesim.Options{TokenTTL: time.Hour},
			func(t *testing.T, e *env) string { return e.token(t, cdesim.DemoService) }, time.Hour - time.Second, 200},
		{"expired token is 401", cdesim.Options{TokenTTL: time.Hour},
			func(t *testing.T, e *env) string { return e.token(t, cdesim.DemoService) }, time.Hour, 401},
		{"no token is 401", cdesim.Options{},
			func(t *testing.T, e *env) string { return "" }, 0, 401},
		{"unknown token is 401", cdesim.Options{},
			func(t *testing.T, e *env) string { return "eyJhbGciOi.forged.token" }, 0, 401},
		{"token of another service is 401", cdesim.Options{},
			func(t *testing.T, e *env) string { return e.token(t, "cde-stage") }, 0, 401},
		{"token of another service is accepted with TokensAcrossServices", cdesim.Options{TokensAcrossServices: true},
			func(t *testing.T, e *env) string { return e.token(t, "cde-stage") }, 0, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts)
			api := vcAPI{e: e, base: e.vc(t, cdesim.DemoService, cdesim.DemoVC).APIURL, token: tt.token(t, e)}
			e.clock.Advance(tt.advance)
			r := api.call(t, http.MethodGet, "/jobs", nil)
			wantStatus(t, r, tt.status)
			if tt.status == 401 && r.json(t)["message"] == "" {
				t.Errorf("401 without a message: %s", r.body)
			}
		})
	}
}

func TestIssueTokenWorksWithoutHTTP(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	tok, err := e.sim.IssueToken(e.service(t, cdesim.DemoService).ClusterID, "tester")
	if err != nil {
		t.Fatal(err)
	}
	api := vcAPI{e: e, base: e.vc(t, cdesim.DemoService, cdesim.DemoVC).APIURL, token: tok}
	wantStatus(t, api.call(t, http.MethodGet, "/info", nil), 200)
	if _, err := e.sim.IssueToken("cluster-nope", "x"); err == nil {
		t.Error("token for an unknown service")
	}
}

func TestVCNotRunningAnswers503(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	stage := e.vc(t, "cde-stage", "vc-stage")
	api := vcAPI{e: e, base: stage.APIURL, token: e.token(t, "cde-stage")}
	wantStatus(t, api.call(t, http.MethodGet, "/jobs", nil), 503)

	if err := e.sim.SetVCStatus(stage.VCID, cdesim.StatusVCRunning); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, api.call(t, http.MethodGet, "/jobs", nil), 200)

	dev := e.devAPI(t)
	if err := e.sim.SetServiceStatus(e.service(t, cdesim.DemoService).ClusterID, "ClusterMaintenanceFailed"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, dev.call(t, http.MethodGet, "/jobs", nil), 503)
}

func TestAddedServiceAndVCAreServed(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	svc, err := e.sim.AddService(context.Background(), cdesim.ServiceSeed{
		Name: "cde-new", VirtualClusters: []cdesim.VCSeed{{Name: "vc-new"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Status != cdesim.StatusServiceRunning || len(svc.VCs) != 1 || svc.VCs[0].Status != cdesim.StatusVCRunning {
		t.Fatalf("defaults not applied: %+v", svc)
	}
	api := vcAPI{e: e, base: svc.VCs[0].APIURL, token: e.token(t, "cde-new")}
	wantStatus(t, api.call(t, http.MethodGet, "/jobs", nil), 200)
	wantStatus(t, e.cp(t, demoSigner, "de/listVcs", map[string]any{"clusterId": svc.ClusterID}), 200)
}
