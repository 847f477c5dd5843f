package cde_test

// The per-request retries of the three clients against the simulator's fault injection
// (FailNext per path, FailEachNext, connection resets, Retry-After, latency). No test sleeps:
// the policies' Sleep records the waits instead.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

type waits struct {
	mu sync.Mutex
	d  []time.Duration
}

func (w *waits) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.d = append(w.d, d)
	return ctx.Err()
}

func (w *waits) all() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]time.Duration(nil), w.d...)
}

// retryClients are the three clients of e with a fast policy whose waits are recorded.
type retryClients struct {
	cdp   *cde.CDPClient
	knox  *cde.KnoxTokenSource
	jobs  *cde.JobsClient
	waits *waits
}

func newRetryClients(t *testing.T, e *simEnv, hc *http.Client) retryClients {
	t.Helper()
	w := &waits{}
	policy := cde.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond, Sleep: w.sleep}
	cdp, err := cde.NewCDPClient(cde.CDPConfig{Endpoint: e.sim.ControlPlaneURL(), AccessKeyID: cdesim.DemoAccessKeyID,
		PrivateKey: cdesim.DemoPrivateKey, HTTPClient: hc, Now: e.clock.Now, Retry: policy})
	if err != nil {
		t.Fatal(err)
	}
	knox, err := cde.NewKnoxTokenSource(cde.KnoxConfig{User: cdesim.DemoUser, Password: cdesim.DemoPassword, HTTPClient: hc,
		Now: e.clock.Now, Retry: policy})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := cde.NewJobsClient(e.vc.VcAPIURL, knox.ForHost(e.svc.ClusterFqdn), hc, cde.WithRetryPolicy(policy))
	if err != nil {
		t.Fatal(err)
	}
	return retryClients{cdp: cdp, knox: knox, jobs: jobs, waits: w}
}

// statuses are the answers the simulator logged for method and path, in order ("reset" for a
// dropped connection).
func statuses(e *simEnv, method, path string) string {
	var out []string
	for _, r := range e.sim.Requests() {
		if r.Method == method && r.Path == path {
			if r.Fault == "reset" {
				out = append(out, "reset")
				continue
			}
			out = append(out, fmt.Sprint(r.Status))
		}
	}
	return strings.Join(out, ",")
}

// Two 503s on a route cost two quick retries, on every client.
func TestIntegrationTransientAnswersAreRetriedPerRequest(t *testing.T) {
	e := startEnv(t, cdesim.DemoSeed(), cdesim.Options{})
	c := newRetryClients(t, e, e.hc)
	ctx := context.Background()
	e.sim.ResetRequests()

	e.sim.FailNext("POST /api/v1/de/listServices", 2, cdesim.Failure{Status: 503})
	if _, err := c.cdp.FindService(ctx, cdesim.DemoService); err != nil {
		t.Fatalf("FindService: %v", err)
	}
	if got := statuses(e, "POST", "/api/v1/de/listServices"); got != "503,503,200" {
		t.Errorf("listServices answers %s", got)
	}

	e.sim.FailNext("GET /gateway/authtkn/knoxtoken/api/v1/token", 2, cdesim.Failure{Status: 500})
	e.sim.FailNext("GET /dex/api/v1/resources/*", 2, cdesim.Failure{Status: 502})
	if err := e.sim.AddResource(e.vc.VcID, "r", cde.ResourceTypeFiles, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := c.jobs.GetResource(ctx, "r"); err != nil {
		t.Fatalf("GetResource: %v", err)
	}
	if got := statuses(e, "GET", "/gateway/authtkn/knoxtoken/api/v1/token"); got != "500,500,200" {
		t.Errorf("Knox answers %s", got)
	}
	if got := statuses(e, "GET", "/dex/api/v1/resources/r"); got != "502,502,200" {
		t.Errorf("getResource answers %s", got)
	}

	// A creation (POST) is retried; its callers take a 409 as "an earlier attempt created it".
	e.sim.FailNext("POST /dex/api/v1/jobs", 2, cdesim.Failure{Status: 429})
	job := cde.Job{Name: "retried", Type: "spark", Mounts: []cde.Mount{{ResourceName: "r"}}, Spark: &cde.SparkJob{File: "a.jar"}}
	if err := c.jobs.CreateJob(ctx, job); err != nil {
		t.Fatalf("CreateJob: %v", err)
	}
	if got := statuses(e, "POST", "/dex/api/v1/jobs"); got != "429,429,201" && got != "429,429,200" {
		t.Errorf("createJob answers %s", got)
	}

	// A streamed upload is retried by opening its content again.
	e.sim.FailNext("PUT /dex/api/v1/resources/r/**", 2, cdesim.Failure{Status: 503})
	data := content(256 << 10)
	opened := 0
	open := func() (io.ReadCloser, error) { opened++; return io.NopCloser(bytes.NewReader(data)), nil }
	if err := c.jobs.UploadFileFrom(ctx, "r", "app.jar", open, int64(len(data))); err != nil {
		t.Fatalf("UploadFileFrom: %v", err)
	}
	if stored, _ := e.sim.FileBytes(e.vc.VcID, "r", "app.jar"); !bytes.Equal(stored, data) || opened != 3 {
		t.Errorf("stored %d bytes after %d opens", len(stored), opened)
	}
	if n := len(c.waits.all()); n != 10 {
		t.Errorf("%d waits, want 2 per route (10)", n)
	}
}

// FailEachNext fails the first requests of every route: a provision-like sequence of calls
// gets through, each request after its own retries.
func TestIntegrationEveryRouteFailingTwiceIsAbsorbed(t *testing.T) {
	e := startEnv(t, cdesim.DemoSeed(), cdesim.Options{})
	c := newRetryClients(t, e, e.hc)
	ctx := context.Background()
	e.sim.FailEachNext("/*/**", 2, cdesim.Failure{Status: 503})
	defer e.sim.ClearFaults()

	svc, err := c.cdp.FindService(ctx, cdesim.DemoService)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := c.cdp.DescribeService(ctx, svc.ClusterID)
	if err != nil {
		t.Fatal(err)
	}
	vc, err := c.cdp.FindVc(ctx, svc.ClusterID, cdesim.DemoVC)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.cdp.DescribeVc(ctx, svc.ClusterID, vc.VcID); err != nil {
		t.Fatal(err)
	}
	if _, err := c.cdp.IDBrokerHosts(ctx, desc.EnvironmentCrn); err != nil {
		t.Fatal(err)
	}
	if err := c.jobs.CreateResource(ctx, cde.CreateResourceRequest{Name: "every", Type: cde.ResourceTypeFiles}); err != nil {
		t.Fatal(err)
	}
	if err := c.jobs.UploadFile(ctx, "every", "app.jar", bytes.NewReader([]byte("jar")), 3); err != nil {
		t.Fatal(err)
	}
	job := cde.Job{Name: "every", Type: "spark", Mounts: []cde.Mount{{ResourceName: "every"}}, Spark: &cde.SparkJob{File: "app.jar"}}
	if err := c.jobs.CreateJob(ctx, job); err != nil {
		t.Fatal(err)
	}
	if _, err := c.jobs.GetJob(ctx, "every"); err != nil {
		t.Fatal(err)
	}
	failed := 0
	for _, r := range e.sim.Requests() {
		if r.Fault == "fail" {
			failed++
		}
	}
	if failed == 0 {
		t.Error("no fault was injected")
	}
}

// A connection reset (the simulator drops the connection with a TCP RST) is transient, and
// retried.
func TestIntegrationConnectionResetsAreRetried(t *testing.T) {
	e := startEnv(t, cdesim.DemoSeed(), cdesim.Options{})
	ctx := context.Background()
	if err := e.sim.AddResource(e.vc.VcID, "r", cde.ResourceTypeFiles, ""); err != nil {
		t.Fatal(err)
	}
	e.token(t) // the token is cached before the faults

	// Without retries, the reset is the error, and a transient one.
	e.sim.FailNext("GET /dex/api/v1/resources/r", 1, cdesim.Failure{Reset: true})
	_, err := e.jobs.GetResource(ctx, "r")
	if err == nil || !cde.IsTransient(err) {
		t.Fatalf("err = %v, want a transient error", err)
	}

	c := newRetryClients(t, e, e.hc)
	e.sim.ResetRequests()
	e.sim.FailNext("GET /dex/api/v1/resources/r", 2, cdesim.Failure{Reset: true})
	if _, err := c.jobs.GetResource(ctx, "r"); err != nil {
		t.Fatalf("GetResource after two resets: %v", err)
	}
	if got := statuses(e, "GET", "/dex/api/v1/resources/r"); got != "reset,reset,200" {
		t.Errorf("answers %s", got)
	}
	e.sim.FailNext("POST /api/v1/de/listServices", 1, cdesim.Failure{Reset: true})
	if _, err := c.cdp.ListServices(ctx, false); err != nil {
		t.Fatalf("ListServices after a reset: %v", err)
	}
	e.sim.FailNext("PUT /dex/api/v1/resources/r/**", 1, cdesim.Failure{Reset: true})
	if err := c.jobs.UploadFile(ctx, "r", "f.txt", bytes.NewReader([]byte("seekable")), 8); err != nil {
		t.Fatalf("seekable upload after a reset: %v", err)
	}
	if stored, _ := e.sim.FileBytes(e.vc.VcID, "r", "f.txt"); string(stored) != "seekable" {
		t.Errorf("stored %q", stored)
	}
}

// What is never sent again: an upload whose content cannot be produced again, and a Retry-After
// above the cap (the caller's retry honours it; the error carries it).
func TestIntegrationWhatIsNotRetried(t *testing.T) {
	e := startEnv(t, cdesim.DemoSeed(), cdesim.Options{})
	c := newRetryClients(t, e, e.hc)
	ctx := context.Background()
	if err := e.sim.AddResource(e.vc.VcID, "r", cde.ResourceTypeFiles, ""); err != nil {
		t.Fatal(err)
	}
	e.sim.ResetRequests()

	e.sim.FailNext("PUT /dex/api/v1/resources/r/**", 1, cdesim.Failure{Status: 503})
	err := c.jobs.UploadFile(ctx, "r", "plain.jar", &plainReader{bytes.NewReader(content(64 << 10))}, 64<<10)
	if apiError(t, err).Status != 503 || !cde.IsTransient(err) {
		t.Fatalf("err = %v", err)
	}
	if got := statuses(e, "PUT", "/dex/api/v1/resources/r/plain.jar"); got != "503" {
		t.Errorf("a plain reader was sent again: %s", got)
	}

	e.sim.FailNext("GET /dex/api/v1/jobs/*", 1, cdesim.Failure{Status: 429, RetryAfter: "60"})
	_, err = c.jobs.GetJob(ctx, "j")
	if apiError(t, err).Status != 429 || cde.RetryAfter(err) != time.Minute {
		t.Fatalf("err = %v, want the 429 with its Retry-After", err)
	}
	date := e.clock.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	e.sim.FailNext("POST /api/v1/de/listVcs", 1, cdesim.Failure{Status: 503, RetryAfter: date})
	_, err = c.cdp.ListVcs(ctx, e.svc.ClusterID)
	if apiError(t, err).Status != 503 || cde.RetryAfter(err) != time.Hour {
		t.Fatalf("err = %v, want the 503 with its Retry-After of an hour", err)
	}
	if got := statuses(e, "POST", "/api/v1/de/listVcs"); got != "503" {
		t.Errorf("listVcs answers %s", got)
	}

	// Within the cap, it is waited for (the recorded wait is the server's).
	e.sim.FailNext("POST /api/v1/de/listVcs", 1, cdesim.Failure{Status: 503, RetryAfter: "2"})
	if _, err := c.cdp.ListVcs(ctx, e.svc.ClusterID); err != nil {
		t.Fatal(err)
	}
	if w := c.waits.all(); len(w) != 1 || w[0] != 2*time.Second {
		t.Errorf("waits %v, want [2s]", w)
	}
}

// The http.Client's Timeout bounds each request (and each retry) but not an upload, whose
// duration depends on its size.
func TestIntegrationTimeoutsBoundEachRequestButUploads(t *testing.T) {
	e := startEnv(t, cdesim.DemoSeed(), cdesim.Options{})
	ctx := context.Background()
	if err := e.sim.AddResource(e.vc.VcID, "r", cde.ResourceTypeFiles, ""); err != nil {
		t.Fatal(err)
	}
	e.token(t)
	hc := &http.Client{Transport: e.hc.Transport, Timeout: 200 * time.Millisecond}
	c := newRetryClients(t, e, hc)
	e.sim.ResetRequests()

	e.sim.SetLatency("GET /dex/api/v1/jobs/*", time.Minute)
	_, err := c.jobs.GetJob(ctx, "slow")
	e.sim.SetLatency("GET /dex/api/v1/jobs/*", 0)
	if err == nil || !cde.IsTransient(err) || errors.Is(err, cde.ErrNotFound) {
		t.Fatalf("err = %v, want a transient timeout", err)
	}
	if n := len(c.waits.all()); n != cde.DefaultRetryAttempts-1 {
		t.Errorf("%d retries, want %d", n, cde.DefaultRetryAttempts-1)
	}

	// The upload waits longer than the Timeout for its answer, and succeeds.
	e.sim.SetLatency("PUT /dex/api/v1/resources/r/**", 600*time.Millisecond)
	defer e.sim.SetLatency("PUT /dex/api/v1/resources/r/**", 0)
	if err := c.jobs.UploadFile(ctx, "r", "big.jar", bytes.NewReader(content(1<<20)), 1<<20); err != nil {
		t.Fatalf("upload: %v", err)
	}
	if got := statuses(e, "PUT", "/dex/api/v1/resources/r/big.jar"); got != "200" && got != "201" && got != "204" {
		t.Errorf("upload answers %s", got)
	}
}
