package cde

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock for the token cache.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeKnox hands out token-1, token-2, … that expire expiresIn after the
// clock's now (or with the literal expires_in when fixedExpiresIn is set).
type fakeKnox struct {
	t              *testing.T
	clock          *fakeClock
	ttl            time.Duration
	fixedExpiresIn string // JSON value of expires_in, overrides ttl
	mu             sync.Mutex
	calls          int
	block          chan struct{} // when set, requests wait on it
	reached        chan struct{}
}

func (k *fakeKnox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != knoxTokenPath {
		k.t.Errorf("Knox got %s %s", r.Method, r.URL.Path)
	}
	if user, pass, ok := r.BasicAuth(); !ok || user != "wl-user" || pass != "wl-pass" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, "Unauthorized")
		return
	}
	if k.reached != nil {
		k.reached <- struct{}{}
	}
	if k.block != nil {
		<-k.block
	}
	k.mu.Lock()
	k.calls++
	n := k.calls
	k.mu.Unlock()
	expires := fmt.Sprint(k.clock.Now().Add(k.ttl).UnixMilli())
	if k.fixedExpiresIn != "" {
		expires = k.fixedExpiresIn
	}
	fmt.Fprintf(w, `{"access_token":"token-%d","token_id":"id-%d","managed":"false","token_type":"Bearer","expires_in":%s,"endpoint_public_cert":"MIIC"}`, n, n, expires)
}

func (k *fakeKnox) count() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.calls
}

func startKnox(t *testing.T, ttl time.Duration) (*fakeKnox, *KnoxTokenSource, string) {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}
	fk := &fakeKnox{t: t, clock: clock, ttl: ttl}
	srv := httptest.NewTLSServer(fk)
	t.Cleanup(srv.Close)
	src, err := NewKnoxTokenSource(KnoxConfig{User: "wl-user", Password: "wl-pass", HTTPClient: srv.Client(), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return fk, src, srv.Listener.Addr().String()
}

func TestKnoxTokenIsCachedUntilShortlyBeforeExpiry(t *testing.T) {
	fk, src, host := startKnox(t, time.Hour)
	ctx := context.Background()
	steps := []struct {
		name      string
		advance   time.Duration
		wantToken string
	}{
		{"first call fetches", 0, "token-1"},
		{"second call is a cache hit", 0, "token-1"},
		{"still cached 54 minutes later", 54 * time.Minute, "token-1"},
		{"refreshed within the 5-minute margin", time.Minute + time.Second, "token-2"},
		{"the new token is cached", 10 * time.Minute, "token-2"},
	}
	for _, s := range steps {
		fk.clock.Advance(s.advance)
		got, err := src.Token(ctx, host)
		if err != nil || got != s.wantToken {
			t.Errorf("%s: Token = %q, %v; want %q", s.name, got, err, s.wantToken)
		}
	}
	if fk.count() != 2 {
		t.Errorf("Knox called %d times, want 2", fk.count())
	}
}

func TestKnoxShortLivedTokenRefreshesAtHalfItsLifetime(t *testing.T) {
	fk, src, host := startKnox(t, 30*time.Second) // Knox's own default TTL
	ctx := context.Background()
	tok1, _ := src.Token(ctx, host)
	fk.clock.Advance(14 * time.Second)
	if tok, _ := src.Token(ctx, host); tok != tok1 {
		t.Errorf("token replaced before half its lifetime: %q", tok)
	}
	fk.clock.Advance(time.Second)
	if tok, _ := src.Token(ctx, host); tok == tok1 {
		t.Error("token kept past half its lifetime")
	}
}

func TestKnoxExpiresInVariants(t *testing.T) {
	tests := []struct {
		name      string
		expiresIn string
		wantCalls int // after three Token calls
	}{
		{"-1 never expires: cached", "-1", 1},
		{"0 (no expiry given): not cached", "0", 3},
		{"already past by our clock: not cached", "1000", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fk, src, host := startKnox(t, 0)
			fk.fixedExpiresIn = tt.expiresIn
			for range 3 {
				if _, err := src.Token(context.Background(), host); err != nil {
					t.Fatal(err)
				}
			}
			if fk.count() != tt.wantCalls {
				t.Errorf("Knox called %d times, want %d", fk.count(), tt.wantCalls)
			}
		})
	}
}

func TestKnoxCacheIsPerHostAndInvalidatable(t *testing.T) {
	fk, src, host := startKnox(t, time.Hour)
	ctx := context.Background()
	a, _ := src.Token(ctx, host)
	// A second service (same fake behind it) has its own cache entry; an
	// https URL of the first one shares the first's.
	other := httptest.NewTLSServer(fk)
	defer other.Close()
	b, err := src.Token(ctx, other.Listener.Addr().String())
	if err != nil || a == b {
		t.Errorf("per-host cache: %q %q %v", a, b, err)
	}
	if again, err := src.Token(ctx, "https://"+host+"/"); err != nil || again != a {
		t.Errorf("URL form of the same host: %q %v, want %q", again, err, a)
	}
	src.Invalidate(host)
	c, _ := src.Token(ctx, host)
	if c == a {
		t.Error("Invalidate did not drop the token")
	}
	// A host-bound source only drops the token it was told is stale.
	bound := src.ForHost(host)
	bound.Invalidate(a)
	if d, _ := bound.Token(ctx); d != c {
		t.Errorf("invalidating an old token dropped the current one: %q", d)
	}
	bound.Invalidate(c)
	if e, _ := bound.Token(ctx); e == c {
		t.Error("invalidating the current token kept it")
	}
	if fk.count() != 4 {
		t.Errorf("Knox called %d times, want 4", fk.count())
	}
}

func TestKnoxConcurrentCallersShareOneFetch(t *testing.T) {
	fk, src, host := startKnox(t, time.Hour)
	const callers = 32
	var wg sync.WaitGroup
	tokens := make([]string, callers)
	errs := make([]error, callers)
	for i := range callers {
		wg.Go(func() { tokens[i], errs[i] = src.Token(context.Background(), host) })
	}
	wg.Wait()
	for i := range callers {
		if errs[i] != nil || tokens[i] != "token-1" {
			t.Errorf("caller %d: %q %v", i, tokens[i], errs[i])
		}
	}
	if fk.count() != 1 {
		t.Errorf("Knox called %d times, want 1", fk.count())
	}
}

func TestKnoxWaiterGivesUpWithItsContext(t *testing.T) {
	fk, src, host := startKnox(t, time.Hour)
	fk.block, fk.reached = make(chan struct{}), make(chan struct{}, 1)
	first := make(chan error, 1)
	go func() { _, err := src.Token(context.Background(), host); first <- err }()
	<-fk.reached // the first fetch is in flight and holds the host's slot
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := src.Token(ctx, host); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting caller: err = %v, want context.Canceled", err)
	}
	close(fk.block)
	if err := <-first; err != nil {
		t.Errorf("first caller: %v", err)
	}
}

func TestKnoxErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantIs  error
		check   func(error) bool
	}{
		{"wrong credentials are unauthorized, not transient", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(401)
		}, ErrUnauthorized, func(err error) bool { return !IsTransient(err) }},
		{"token limit is forbidden with Knox's text", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(403)
			_, _ = io.WriteString(w, `{ "Unable to get token - token limit exceeded." }`)
		}, ErrForbidden, func(err error) bool { return strings.Contains(err.Error(), "token limit exceeded") }},
		{"a gateway error is transient", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(502)
		}, nil, IsTransient},
		{"no access_token is malformed", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"token_type":"Bearer","expires_in":-1}`)
		}, ErrMalformedResponse, func(err error) bool { return !IsTransient(err) }},
		{"non-JSON success is malformed and does not echo the body", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `access_token=leaked-token-value`)
		}, ErrMalformedResponse, func(err error) bool { return !strings.Contains(err.Error(), "leaked-token-value") && !IsTransient(err) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(tt.handler)
			defer srv.Close()
			src, _ := NewKnoxTokenSource(KnoxConfig{User: "wl-user", Password: "wl-pass-secret", HTTPClient: srv.Client()})
			_, err := src.Token(context.Background(), srv.Listener.Addr().String())
			if err == nil {
				t.Fatal("want an error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want %v", err, tt.wantIs)
			}
			if !tt.check(err) {
				t.Errorf("check failed for %v", err)
			}
			for _, secret := range []string{"wl-pass-secret", "d2wtdXNlcjp3bC1wYXNz"} { // password, base64 of user:pass prefix
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error leaks a credential: %v", err)
				}
			}
		})
	}
}

func TestKnoxHostValidation(t *testing.T) {
	src, _ := NewKnoxTokenSource(KnoxConfig{User: "u", Password: "p"})
	for _, h := range []string{"", "http://host", "host/path", "user@host", "host?x", "a b"} {
		if _, err := src.Token(context.Background(), h); err == nil {
			t.Errorf("host %q: want an error", h)
		}
	}
	if _, err := NewKnoxTokenSource(KnoxConfig{User: "u"}); err == nil {
		t.Error("a missing password must be refused")
	}
}
