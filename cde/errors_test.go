package cde

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAPIErrorClassification(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		sentinel   error // nil: matches none
		transient  bool
		retryAfter time.Duration
		code, msg  string
	}{
		{name: "400 is permanent", status: 400, body: `{"code":"INVALID_ARGUMENT","message":"bad name"}`, code: "INVALID_ARGUMENT", msg: "bad name"},
		{name: "401 is unauthorized and never transient", status: 401, body: `{"error":"expired"}`, sentinel: ErrUnauthorized, msg: "expired"},
		{name: "403 is forbidden and never transient", status: 403, body: `{ "Unable to get token - token limit exceeded." }`, sentinel: ErrForbidden, msg: `{ "Unable to get token - token limit exceeded." }`},
		{name: "404 is not found", status: 404, body: `{"code":"NOT_FOUND","message":"job x not found"}`, sentinel: ErrNotFound, code: "NOT_FOUND", msg: "job x not found"},
		{name: "409 is a conflict", status: 409, body: `{"errorMessages":["exists","really"]}`, sentinel: ErrConflict, msg: "exists; really"},
		{name: "429 with Retry-After seconds is transient", status: 429, header: map[string]string{"Retry-After": "7"}, transient: true, retryAfter: 7 * time.Second},
		{name: "429 with an HTTP-date Retry-After is transient", status: 429, header: map[string]string{"Retry-After": "Mon, 02 Jan 2006 15:05:35 GMT"}, transient: true, retryAfter: 90 * time.Second},
		{name: "500 is transient", status: 500, body: `{"code":"UNKNOWN","message":"boom"}`, transient: true, code: "UNKNOWN", msg: "boom"},
		{name: "502 is transient", status: 502, body: "bad gateway\n", transient: true, msg: "bad gateway"},
		{name: "503 with Retry-After is transient", status: 503, header: map[string]string{"Retry-After": "120"}, transient: true, retryAfter: 2 * time.Minute},
		{name: "a NOT_FOUND code with another status still matches not found", status: 400, body: `{"code":"NOT_FOUND"}`, sentinel: ErrNotFound, code: "NOT_FOUND"},
		{name: "a numeric code is kept", status: 400, body: `{"code":42,"message":"m"}`, code: "42", msg: "m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("X-Request-Id", "rid-1")
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			c := newTestJobsClient(t, srv, StaticTokenSource("tok"))
			c.now = func() time.Time { return signTime } // 15:04:05 GMT
			_, err := c.GetJob(context.Background(), "j")
			apiErr, ok := errors.AsType[*APIError](err)
			if !ok {
				t.Fatalf("err = %v, want *APIError", err)
			}
			if apiErr.Status != tt.status || apiErr.Code != tt.code || apiErr.Message != tt.msg ||
				apiErr.RequestID != "rid-1" || apiErr.RetryAfter != tt.retryAfter || apiErr.Op != "getJob" ||
				apiErr.Method != "GET" || apiErr.URL != "/dex/api/v1/jobs/j" {
				t.Errorf("APIError = %#v", *apiErr)
			}
			if got := RetryAfter(fmt.Errorf("activity: %w", err)); got != tt.retryAfter {
				t.Errorf("RetryAfter through a wrap = %v, want %v", got, tt.retryAfter)
			}
			if IsTransient(err) != tt.transient {
				t.Errorf("IsTransient = %v, want %v", IsTransient(err), tt.transient)
			}
			for _, s := range []error{ErrNotFound, ErrConflict, ErrUnauthorized, ErrForbidden} {
				if errors.Is(err, s) != (s == tt.sentinel) {
					t.Errorf("errors.Is(err, %v) = %v", s, errors.Is(err, s))
				}
			}
			if strings.Contains(err.Error(), "tok") && !strings.Contains(tt.body, "tok") {
				t.Errorf("error mentions the token: %v", err)
			}
		})
	}
}

func TestTransportErrorClassification(t *testing.T) {
	// A closed listener's address refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := ln.Addr().String()
	ln.Close()

	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	reached := make(chan struct{}, 10)
	hanging := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached <- struct{}{}
		select {
		case <-r.Context().Done():
			// Never answer: returning would send an implicit 200 with an
			// empty body, which the client occasionally receives around its
			// own cancellation and reports as success (a flaky "want an
			// error" in about one run in ten under -race).
			panic(http.ErrAbortHandler)
		case <-hang:
		}
	}))
	hanging.Config.ErrorLog = log.New(io.Discard, "", 0) // aborted handlers are expected
	t.Cleanup(hanging.Close)
	truncated := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		w.WriteHeader(200)
		_, _ = io.WriteString(w, `{"name":"j"`)
		panic(http.ErrAbortHandler) // cut the connection mid-body
	}))
	t.Cleanup(truncated.Close)
	// Over HTTP/2, an aborted handler resets its stream only (RST_STREAM INTERNAL_ERROR), as an
	// ingress restarting does.
	streamReset := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	streamReset.EnableHTTP2 = true
	streamReset.Config.ErrorLog = log.New(io.Discard, "", 0)
	streamReset.StartTLS()
	t.Cleanup(streamReset.Close)
	untrusted := httptest.NewUnstartedServer(http.NotFoundHandler())
	untrusted.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	untrusted.StartTLS()
	t.Cleanup(untrusted.Close)

	tests := []struct {
		name      string
		call      func() error
		transient bool
		canceled  bool
	}{
		{name: "connection refused is transient", transient: true, call: func() error {
			c, _ := NewJobsClient("https://"+refusedAddr+"/dex/api/v1", StaticTokenSource("t"), nil)
			_, err := c.GetJob(context.Background(), "j")
			return err
		}},
		{name: "an http.Client timeout is transient", transient: true, call: func() error {
			hc := *hanging.Client() // a copy: the server hands out one shared client
			hc.Timeout = 50 * time.Millisecond
			c, _ := NewJobsClient(hanging.URL+"/dex/api/v1", StaticTokenSource("t"), &hc)
			_, err := c.GetJob(context.Background(), "j")
			return err
		}},
		{name: "a context deadline is transient", transient: true, call: func() error {
			c := newTestJobsClient(t, hanging, StaticTokenSource("t"))
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			_, err := c.GetJob(ctx, "j")
			return err
		}},
		{name: "a context canceled mid-request is not transient", canceled: true, call: func() error {
			c := newTestJobsClient(t, hanging, StaticTokenSource("t"))
			for len(reached) > 0 { // from the timeout cases
				<-reached
			}
			ctx, cancel := context.WithCancel(context.Background())
			go func() { <-reached; cancel() }()
			_, err := c.GetJob(ctx, "j")
			return err
		}},
		{name: "a context canceled before the call is not transient", canceled: true, call: func() error {
			c := newTestJobsClient(t, hanging, StaticTokenSource("t"))
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			_, err := c.GetJob(ctx, "j")
			return err
		}},
		{name: "a body cut short is transient", transient: true, call: func() error {
			c := newTestJobsClient(t, truncated, StaticTokenSource("t"))
			_, err := c.GetJob(context.Background(), "j")
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				return fmt.Errorf("want io.ErrUnexpectedEOF in %w", err)
			}
			return err
		}},
		{name: "a stream reset over HTTP/2 is transient", transient: true, call: func() error {
			c := newTestJobsClient(t, streamReset, StaticTokenSource("t"))
			_, err := c.GetJob(context.Background(), "j")
			if err == nil || !strings.Contains(err.Error(), "stream error") {
				return fmt.Errorf("want an HTTP/2 stream error, got %w", err)
			}
			return err
		}},
		{name: "an untrusted certificate is permanent (verification is on)", call: func() error {
			c, _ := NewJobsClient(untrusted.URL, StaticTokenSource("t"), nil)
			_, err := c.GetJob(context.Background(), "j")
			if !isCertificateError(err) {
				return fmt.Errorf("want a certificate error, got %w", err)
			}
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil {
				t.Fatal("want an error")
			}
			if got := IsTransient(err); got != tt.transient {
				t.Errorf("IsTransient(%v) = %v, want %v", err, got, tt.transient)
			}
			if tt.canceled != errors.Is(err, context.Canceled) {
				t.Errorf("errors.Is(%v, context.Canceled) = %v", err, !tt.canceled)
			}
		})
	}
	if IsTransient(nil) {
		t.Error("IsTransient(nil)")
	}
	if IsTransient(errors.New("cde: some validation problem")) {
		t.Error("a plain error is not transient")
	}
	for msg, want := range map[string]bool{
		"stream error: stream ID 5; REFUSED_STREAM":                                             true,
		"stream error: stream ID 3; CANCEL; received from peer":                                 true,
		"stream error: stream ID 3; ENHANCE_YOUR_CALM":                                          true,
		"http2: server sent GOAWAY and closed the connection; LastStreamID=1, ErrCode=NO_ERROR": true,
		"http2: client connection lost":                                                         true,
		"stream error: stream ID 3; PROTOCOL_ERROR; received from peer":                         false,
		"stream error: stream ID 3; FLOW_CONTROL_ERROR":                                         false,
	} {
		if got := IsTransient(fmt.Errorf("Get \"https://x/\": %w", errors.New(msg))); got != want {
			t.Errorf("IsTransient(%q) = %v, want %v", msg, got, want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"30", 30 * time.Second},
		{" 30 ", 30 * time.Second},
		{"Sun, 29 Nov 2026 12:01:00 GMT", time.Minute},
		{"Sunday, 29-Nov-26 12:00:10 GMT", 10 * time.Second}, // RFC 850 form
		{"Sun Nov 29 12:00:05 2026", 5 * time.Second},        // asctime form
		{"Sun, 29 Nov 2026 11:00:00 GMT", 0},                 // in the past
		{"soon", 0},
		{"99999999999999999999", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	if got := parseRetryAfter("9999999999999", now); got <= 0 {
		t.Errorf("a huge delay must not overflow: %v", got)
	}
}

func TestErrorMessagesAreBoundedAndOneLine(t *testing.T) {
	long := strings.Repeat("é", 2000) + "\n\tsecond line"
	got := sanitizeMessage(long)
	if len(got) > maxErrorMessage+len("…") || strings.ContainsAny(got, "\n\t") || !strings.HasSuffix(got, "…") {
		t.Errorf("sanitizeMessage gave %d bytes: %q…", len(got), got[:20])
	}
	if !isValidUTF8(got) {
		t.Error("truncation split a rune")
	}
}

func isValidUTF8(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }
