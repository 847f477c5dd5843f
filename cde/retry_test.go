package cde

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// sleepRecorder is a RetryPolicy.Sleep that records the waits and never sleeps.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepRecorder) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	return ctx.Err()
}

func (s *sleepRecorder) got() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

func testPolicy(rec *sleepRecorder) RetryPolicy {
	return RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond, Sleep: rec.sleep}
}

func apiErr(status int, retryAfter time.Duration) error {
	return &APIError{Op: "op", Method: "GET", URL: "/x", Status: status, RetryAfter: retryAfter}
}

func TestRetryPolicyDefaults(t *testing.T) {
	p := RetryPolicy{}.withDefaults()
	if p.Attempts != DefaultRetryAttempts || p.BaseDelay != DefaultRetryBaseDelay || p.MaxDelay != DefaultRetryMaxDelay ||
		p.MaxRetryAfter != DefaultRetryMaxRetryAfter || p.Sleep == nil {
		t.Errorf("defaults = %+v", p)
	}
	if NoRetry.withDefaults().Attempts != 1 {
		t.Error("NoRetry sends more than once")
	}
}

// What is retried: the same classification as IsTransient.
func TestRetryClassification(t *testing.T) {
	p := RetryPolicy{}.withDefaults()
	tests := []struct {
		err   error
		retry bool
	}{
		{apiErr(500, 0), true}, {apiErr(502, 0), true}, {apiErr(503, 0), true}, {apiErr(504, 0), true},
		{apiErr(429, 0), true}, {apiErr(408, 0), true},
		{apiErr(400, 0), false}, {apiErr(401, 0), false}, {apiErr(403, 0), false}, {apiErr(404, 0), false}, {apiErr(409, 0), false},
		{fmt.Errorf("cde: getJob: %w", io.ErrUnexpectedEOF), true},
		{fmt.Errorf("cde: getJob: %w", context.DeadlineExceeded), true},
		{fmt.Errorf("cde: getJob: %w", context.Canceled), false},
		{fmt.Errorf("cde: getJob: %w", ErrMalformedResponse), false},
		{errors.New("cde: job name is not valid"), false},
	}
	for _, tt := range tests {
		if _, got := p.delay(1, tt.err); got != tt.retry {
			t.Errorf("retry %v = %v, want %v", tt.err, got, tt.retry)
		}
	}
}

func TestRetryBackoffIsJitteredExponentialAndCapped(t *testing.T) {
	p := RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}.withDefaults()
	for n, full := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 30: time.Second} {
		for range 200 {
			if d := p.backoff(n); d < full/2 || d > full {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", n, d, full/2, full)
			}
		}
	}
}

func TestRetryAfterIsHonouredUpToTheCap(t *testing.T) {
	p := RetryPolicy{BaseDelay: time.Millisecond, MaxRetryAfter: 5 * time.Second}.withDefaults()
	if d, ok := p.delay(1, apiErr(429, 3*time.Second)); !ok || d != 3*time.Second {
		t.Errorf("Retry-After 3s under a 5s cap: wait %v, retry %v", d, ok)
	}
	if d, ok := p.delay(1, apiErr(503, 5*time.Second)); !ok || d != 5*time.Second {
		t.Errorf("Retry-After at the cap: wait %v, retry %v", d, ok)
	}
	if _, ok := p.delay(1, apiErr(503, 6*time.Second)); ok {
		t.Error("a Retry-After above the cap is left to the caller's retry")
	}

	// The HTTP-date form, parsed against the client's clock.
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	resp := &http.Response{StatusCode: 503, Header: http.Header{}}
	resp.Header.Set("Retry-After", now.Add(2*time.Second).Format(http.TimeFormat))
	err := newAPIError("getJob", "GET", "/jobs/j", resp, nil, now)
	if d, ok := p.delay(1, err); !ok || d != 2*time.Second {
		t.Errorf("Retry-After as an HTTP date 2s ahead: wait %v, retry %v", d, ok)
	}
	resp.Header.Set("Retry-After", now.Add(time.Hour).Format(http.TimeFormat))
	err = newAPIError("getJob", "GET", "/jobs/j", resp, nil, now)
	if _, ok := p.delay(1, err); ok {
		t.Error("an HTTP date an hour ahead is above the cap")
	}
}

func TestRetryRunStopsWhereItMust(t *testing.T) {
	fail := func(n *int, errs ...error) func() error {
		return func() error {
			*n++
			if *n <= len(errs) {
				return errs[*n-1]
			}
			return nil
		}
	}
	t.Run("transient failures until success", func(t *testing.T) {
		rec := &sleepRecorder{}
		n := 0
		err := testPolicy(rec).run(context.Background(), true, fail(&n, apiErr(503, 0), apiErr(503, 0)), nil)
		if err != nil || n != 3 || len(rec.got()) != 2 {
			t.Errorf("err %v after %d attempts, %d waits", err, n, len(rec.got()))
		}
	})
	t.Run("at most Attempts", func(t *testing.T) {
		rec := &sleepRecorder{}
		n := 0
		p := testPolicy(rec)
		p.Attempts = 3
		err := p.run(context.Background(), true, fail(&n, apiErr(503, 0), apiErr(502, 0), apiErr(500, 0), apiErr(504, 0)), nil)
		if apiStatus(err) != 500 || n != 3 {
			t.Errorf("err %v after %d attempts", err, n)
		}
	})
	t.Run("not retryable", func(t *testing.T) {
		n := 0
		err := testPolicy(&sleepRecorder{}).run(context.Background(), false, fail(&n, apiErr(503, 0)), nil)
		if apiStatus(err) != 503 || n != 1 {
			t.Errorf("err %v after %d attempts", err, n)
		}
	})
	t.Run("a permanent error", func(t *testing.T) {
		n := 0
		err := testPolicy(&sleepRecorder{}).run(context.Background(), true, fail(&n, apiErr(400, 0)), nil)
		if apiStatus(err) != 400 || n != 1 {
			t.Errorf("err %v after %d attempts", err, n)
		}
	})
	t.Run("a canceled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		n := 0
		err := testPolicy(&sleepRecorder{}).run(ctx, true, fail(&n, apiErr(503, 0)), nil)
		if apiStatus(err) != 503 || n != 1 {
			t.Errorf("err %v after %d attempts", err, n)
		}
	})
	t.Run("a deadline too close for the wait returns the cause at once", func(t *testing.T) {
		rec := &sleepRecorder{}
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		n := 0
		err := testPolicy(rec).run(ctx, true, fail(&n, apiErr(429, 2*time.Hour)), nil)
		if apiStatus(err) != 429 || n != 1 || len(rec.got()) != 0 {
			t.Errorf("err %v after %d attempts, waits %v", err, n, rec.got())
		}
	})
	t.Run("a Retry-After is waited for", func(t *testing.T) {
		rec := &sleepRecorder{}
		n := 0
		err := testPolicy(rec).run(context.Background(), true, fail(&n, apiErr(429, 2*time.Second)), nil)
		if err != nil || n != 2 || len(rec.got()) != 1 || rec.got()[0] != 2*time.Second {
			t.Errorf("err %v after %d attempts, waits %v", err, n, rec.got())
		}
	})
	t.Run("prepare's error ends the retries", func(t *testing.T) {
		n := 0
		reopen := errors.New("cannot reopen")
		err := testPolicy(&sleepRecorder{}).run(context.Background(), true, fail(&n, apiErr(503, 0)), func() error { return reopen })
		if !errors.Is(err, reopen) || n != 1 {
			t.Errorf("err %v after %d attempts", err, n)
		}
	})
}

func apiStatus(err error) int {
	if e, ok := errors.AsType[*APIError](err); ok {
		return e.Status
	}
	return 0
}

// flakyVC answers the first failures requests of each method and path with 503, then 200 (or
// 201 for a POST); it reads every request body whole.
type flakyVC struct {
	failures int
	mu       sync.Mutex
	seen     []string
	bodies   [][]byte
	per      map[string]int
}

func (f *flakyVC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	key := r.Method + " " + strings.TrimPrefix(r.URL.Path, "/dex/api/v1")
	f.seen = append(f.seen, key)
	f.bodies = append(f.bodies, body)
	f.per[key]++
	n := f.per[key]
	f.mu.Unlock()
	if n <= f.failures {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if r.Method == http.MethodPost {
		w.WriteHeader(http.StatusCreated)
		return
	}
	_, _ = w.Write([]byte(`{"name":"j"}`))
}

func (f *flakyVC) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.seen)
}

func startFlakyVC(t *testing.T, failures int) (*flakyVC, *JobsClient) {
	t.Helper()
	f := &flakyVC{failures: failures, per: map[string]int{}}
	srv := httptest.NewTLSServer(f)
	t.Cleanup(srv.Close)
	c, err := NewJobsClient(srv.URL+"/dex/api/v1", StaticTokenSource("tok-1"), srv.Client(), WithRetryPolicy(testPolicy(&sleepRecorder{})))
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

// Which requests are sent again: idempotent methods, the creations whose callers handle 409,
// and a body only when it can be produced again.
func TestOnlySafeRequestsAreRetried(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		call     func(c *JobsClient) error
		requests int // with two 503s first
	}{
		{"GET", func(c *JobsClient) error { _, err := c.GetJob(ctx, "j"); return err }, 3},
		{"DELETE", func(c *JobsClient) error { return c.DeleteJob(ctx, "j") }, 3},
		{"POST of a job creation (409-safe)", func(c *JobsClient) error {
			return c.CreateJob(ctx, Job{Name: "j", Type: "spark", Spark: &SparkJob{File: "a.jar"}})
		}, 3},
		{"POST of a resource creation (409-safe)", func(c *JobsClient) error {
			return c.CreateResource(ctx, CreateResourceRequest{Name: "r", Type: ResourceTypeFiles})
		}, 3},
		{"any other POST is sent once", func(c *JobsClient) error {
			return c.do(ctx, vcCall{op: "runJob", method: http.MethodPost, path: "/jobs/j/run", jsonBody: map[string]any{}}, nil)
		}, 1},
		{"a seekable upload is rewound and sent again", func(c *JobsClient) error {
			return c.UploadFile(ctx, "r", "a.jar", bytes.NewReader([]byte("content")), 7)
		}, 3},
		{"a plain reader is sent once (after the GET that proves its token)", func(c *JobsClient) error {
			return c.UploadFile(ctx, "r", "a.jar", onlyReader{strings.NewReader("content")}, 7)
		}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := startFlakyVC(t, 2)
			err := tt.call(c)
			if tt.requests == 3 {
				if err != nil || f.count() != 3 {
					t.Fatalf("err %v after %d requests, want success after 3", err, f.count())
				}
				return
			}
			if apiStatus(err) != 503 {
				t.Fatalf("err = %v, want the 503", err)
			}
			want := tt.requests
			if want < 0 {
				// The probe GET is retried (2 × 503, then 200); the PUT is sent once.
				want = 4
			}
			if f.count() != want {
				t.Errorf("%d requests %v, want %d", f.count(), f.seen, want)
			}
		})
	}
}

type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(b []byte) (int, error) { return o.r.Read(b) }

// A reopenable upload (UploadFileFrom) is opened again for each attempt, and every attempt
// sends the whole content.
func TestUploadFileFromReopensForEachAttempt(t *testing.T) {
	f, c := startFlakyVC(t, 2)
	var opened, closed atomic.Int32
	open := func() (io.ReadCloser, error) {
		opened.Add(1)
		return closeCounter{Reader: strings.NewReader("the content"), closed: &closed}, nil
	}
	if err := c.UploadFileFrom(context.Background(), "r", "a.jar", open, 11); err != nil {
		t.Fatal(err)
	}
	if opened.Load() != 3 || closed.Load() != 3 || f.count() != 3 {
		t.Errorf("opened %d, closed %d, %d requests; want 3 each", opened.Load(), closed.Load(), f.count())
	}
	for i, b := range f.bodies {
		if !bytes.Contains(b, []byte("the content")) {
			t.Errorf("attempt %d sent %q", i+1, b)
		}
	}

	// When the content cannot be opened again, that is the error.
	f, c = startFlakyVC(t, 1)
	gone := errors.New("the object changed")
	first := true
	open = func() (io.ReadCloser, error) {
		if first {
			first = false
			return io.NopCloser(strings.NewReader("x")), nil
		}
		return nil, gone
	}
	if err := c.UploadFileFrom(context.Background(), "r", "a.jar", open, 1); !errors.Is(err, gone) || f.count() != 1 {
		t.Errorf("err %v after %d requests, want the reopen's error after 1", err, f.count())
	}
}

type closeCounter struct {
	io.Reader
	closed *atomic.Int32
}

func (c closeCounter) Close() error { c.closed.Add(1); return nil }

// A POST sent again after its first attempt landed finds the job there (409): UpdateJob's
// re-creation takes it as done when the job has what the PATCH could not remove no more.
func TestUpdateJobRecreationTakesTheConflictOfItsOwnRetriedCreate(t *testing.T) {
	const withClass = `{"name":"j","type":"spark","spark":{"file":"a.jar","className":"com.example.Main"}}`
	const withoutClass = `{"name":"j","type":"spark","spark":{"file":"main.py"}}`
	s, c := startScriptedVC(t, map[string][]scripted{
		"GET /jobs/j":    {{200, withClass}, {200, withClass}, {200, withoutClass}},
		"PATCH /jobs/j":  {{200, ""}},
		"DELETE /jobs/j": {{204, ""}},
		"POST /jobs":     {{409, `{"message":"job already exists"}`}},
	})
	if err := c.UpdateJob(context.Background(), Job{Name: "j", Type: "spark", Spark: &SparkJob{File: "main.py"}}); err != nil {
		t.Fatalf("err = %v (requests %v)", err, s.requests())
	}
}
