package cdesim_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

func TestFailNextThenSucceed(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	e.sim.FailNext("POST /api/v1/de/listServices", 2, cdesim.Failure{Status: 503, RetryAfter: "2"})

	for i := range 2 {
		r := e.cp(t, demoSigner, "de/listServices", map[string]any{})
		wantStatus(t, r, 503)
		if r.header.Get("Retry-After") != "2" {
			t.Errorf("attempt %d: Retry-After %q", i, r.header.Get("Retry-After"))
		}
		if body := r.json(t); body["code"] == "" || body["message"] == "" {
			t.Errorf("default failure body is a CDP Error: %s", r.body)
		}
	}
	wantStatus(t, e.cp(t, demoSigner, "de/listServices", map[string]any{}), 200)

	var faults []string
	for _, rec := range e.sim.Requests() {
		faults = append(faults, fmt.Sprintf("%d/%s", rec.Status, rec.Fault))
	}
	if got := strings.Join(faults, ","); got != "503/fail,503/fail,200/" {
		t.Errorf("request log %s", got)
	}
}

func TestFailureBodiesAndPatterns(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	api := e.devAPI(t)
	tests := []struct {
		name    string
		pattern string
		f       cdesim.Failure
		method  string
		path    string
		status  int
		body    string
	}{
		{"custom body and status on a VC path glob", "PUT /dex/api/v1/resources/*/*",
			cdesim.Failure{Status: 429, Body: "slow down", ContentType: "text/plain"}, "PUT", "/resources/r/app.jar", 429, "slow down"},
		{"default VC failure body is {message}", "/dex/api/v1/jobs/**",
			cdesim.Failure{Status: 500}, "GET", "/jobs/x/run", 500, `{"message":"injected failure: Internal Server Error"}`},
		{"a method-less pattern matches any method", "/dex/api/v1/info",
			cdesim.Failure{}, "GET", "/info", 503, `{"message":"injected failure: Service Unavailable"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.sim.FailNext(tt.pattern, 1, tt.f)
			r := api.call(t, tt.method, tt.path, nil)
			wantStatus(t, r, tt.status)
			if string(r.body) != tt.body {
				t.Errorf("body %q, want %q", r.body, tt.body)
			}
		})
	}
	// A failure for another route does not fire.
	e.sim.FailNext("DELETE /dex/api/v1/jobs/*", 1, cdesim.Failure{})
	wantStatus(t, api.call(t, http.MethodGet, "/jobs/none", nil), 404)
	e.sim.ClearFaults()
	wantStatus(t, api.call(t, http.MethodDelete, "/jobs/none", nil), 404)
}

func TestLatencyIsAppliedAndRecorded(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	const lat = 50 * time.Millisecond
	e.sim.SetLatency("POST /api/v1/de/describeService", lat)
	e.sim.ResetRequests()
	wantStatus(t, e.cp(t, demoSigner, "de/describeService", map[string]any{"clusterId": e.service(t, cdesim.DemoService).ClusterID}), 200)
	wantStatus(t, e.cp(t, demoSigner, "de/listServices", map[string]any{}), 200)
	recs := e.sim.Requests()
	if len(recs) != 2 {
		t.Fatalf("log %+v", recs)
	}
	if recs[0].Duration < lat || recs[0].Fault != "latency" {
		t.Errorf("delayed request recorded as %+v", recs[0])
	}
	if recs[1].Fault != "" {
		t.Errorf("other route delayed: %+v", recs[1])
	}
	e.sim.SetLatency("POST /api/v1/de/describeService", 0)
	wantStatus(t, e.cp(t, demoSigner, "de/describeService", map[string]any{"clusterId": e.service(t, cdesim.DemoService).ClusterID}), 200)
	if last := e.sim.Requests()[2]; last.Fault != "" {
		t.Errorf("latency not removed: %+v", last)
	}
}

func TestBlockHoldsRequestsUntilReleased(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	api := e.devAPI(t)
	release := e.sim.Block("GET /dex/api/v1/jobs/*")

	// t.Fatal must not run outside the test goroutine: report statuses instead.
	done := make(chan int, 2)
	for range 2 {
		go func() {
			req, _ := http.NewRequest(http.MethodGet, api.base+"/jobs/held", nil)
			req.Header.Set("Authorization", "Bearer "+api.token)
			resp, err := e.http.Do(req)
			if err != nil {
				done <- -1
				return
			}
			resp.Body.Close()
			done <- resp.StatusCode
		}()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.sim.AwaitBlocked(ctx, 2); err != nil {
		t.Fatal(err)
	}
	select {
	case st := <-done:
		t.Fatalf("a blocked request completed: %d", st)
	default:
	}
	// Other routes are not held.
	wantStatus(t, api.call(t, http.MethodGet, "/jobs", nil), 200)

	release()
	release() // idempotent
	for range 2 {
		if st := <-done; st != 404 {
			t.Errorf("released request: %d", st)
		}
	}
	wantStatus(t, api.call(t, http.MethodGet, "/jobs/held", nil), 404)
}

func TestRequestLogHoldsNoSecrets(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	api := e.devAPI(t)
	wantStatus(t, api.call(t, http.MethodGet, "/jobs?limit=5", nil), 200)
	wantStatus(t, e.cp(t, demoSigner, "de/listServices", map[string]any{}), 200)
	log := fmt.Sprintf("%+v", e.sim.Requests())
	for _, secret := range []string{api.token, cdesim.DemoPassword, "x-altus-auth", "Basic ", cdesim.DemoPrivateKey} {
		if strings.Contains(log, secret) {
			t.Errorf("request log contains a secret %q", secret)
		}
	}
	recs := e.sim.Requests()
	targets := map[string]bool{}
	for _, r := range recs {
		targets[strings.SplitN(r.Target, ":", 2)[0]] = true
	}
	if !targets["knox"] || !targets["vc"] || !targets["controlplane"] {
		t.Errorf("targets %v", targets)
	}
	if recs[1].Path != "/dex/api/v1/jobs" || recs[1].Query != "limit=5" || recs[1].Method != "GET" || recs[1].Status != 200 {
		t.Errorf("record %+v", recs[1])
	}
}

func TestMalformedPatternPanics(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	defer func() {
		if recover() == nil {
			t.Error("no panic for a pattern without a leading /")
		}
	}()
	e.sim.FailNext("GET jobs", 1, cdesim.Failure{})
}

func TestNegativeCountFailsUntilCleared(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	e.sim.FailNext("POST /api/v1/de/*", -1, cdesim.Failure{Status: 500})
	for range 3 {
		wantStatus(t, e.cp(t, demoSigner, "de/listServices", map[string]any{}), 500)
	}
	e.sim.ClearFaults()
	wantStatus(t, e.cp(t, demoSigner, "de/listServices", map[string]any{}), 200)
}

// The log keeps a control-plane request's arguments (bounded), which tells apart two calls of
// one operation; the jobs API's bodies (job definitions, uploads) are not kept.
func TestTheLogKeepsControlPlaneArgumentsOnly(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	id := e.service(t, cdesim.DemoService).ClusterID
	e.sim.ResetRequests()
	wantStatus(t, e.cp(t, demoSigner, "de/listVcs", map[string]any{"clusterId": id}), 200)
	wantStatus(t, e.cp(t, demoSigner, "de/listServices", map[string]any{"pad": strings.Repeat("x", 4<<10)}), 200)
	wantStatus(t, e.devAPI(t).call(t, http.MethodPost, "/resources", map[string]any{"name": "r1", "type": "files"}), 201)
	recs := e.sim.Requests()
	if len(recs) < 3 {
		t.Fatalf("log %+v", recs)
	}
	if want := `{"clusterId":"` + id + `"}`; recs[0].Body != want {
		t.Errorf("listVcs body %q, want %q", recs[0].Body, want)
	}
	if n := len(recs[1].Body); n != 1<<10 {
		t.Errorf("a large body is kept up to 1 KiB, kept %d bytes", n)
	}
	for _, r := range recs[2:] {
		if r.Body != "" {
			t.Errorf("%s %s %s: body %q kept", r.Target, r.Method, r.Path, r.Body)
		}
	}
}
