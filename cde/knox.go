package cde

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// knoxTokenPath is where a CDE service's Knox gateway hands out tokens to a
// workload user (reference 2.2).
const knoxTokenPath = "/gateway/authtkn/knoxtoken/api/v1/token"

// DefaultKnoxRefreshMargin is how long before its expiry a cached token is
// replaced (the Airflow provider uses the same 5 minutes).
const DefaultKnoxRefreshMargin = 5 * time.Minute

// TokenSource yields bearer tokens for the jobs API of one CDE service.
type TokenSource interface {
	// Token returns a token, cached or fresh.
	Token(ctx context.Context) (string, error)
	// Invalidate reports that token was refused (401); the next Token call
	// fetches a new one unless another caller already did.
	Invalidate(token string)
}

// StaticTokenSource always returns the same token (tests, simulators,
// tokens obtained elsewhere).
type StaticTokenSource string

// Token returns the static token.
func (s StaticTokenSource) Token(context.Context) (string, error) { return string(s), nil }

// Invalidate does nothing: there is nothing to refresh.
func (StaticTokenSource) Invalidate(string) {}

// String redacts the token.
func (StaticTokenSource) String() string { return "cde.StaticTokenSource(REDACTED)" }

// GoString keeps %#v from printing the token.
func (s StaticTokenSource) GoString() string { return s.String() }

// Format prints the redacted String form for every verb, so that no verb,
// not even a wrong one, makes fmt print the fields.
func (s StaticTokenSource) Format(f fmt.State, verb rune) { formatRedacted(f, verb, s.String()) }

// LogValue redacts the token in slog output.
func (StaticTokenSource) LogValue() slog.Value { return slog.StringValue(redacted) }

// KnoxConfig configures a KnoxTokenSource. Its String, GoString and
// LogValue redact Password.
type KnoxConfig struct {
	User       string       // CDP_DEPLOY_ROLE_USER, the CDE workload user
	Password   string       // CDP_DEPLOY_ROLE_PASSWORD, its workload password
	HTTPClient *http.Client // nil: a client on http.DefaultTransport (system roots + SSL_CERT_FILE)

	// RefreshMargin: a cached token is replaced this long before its
	// expiry, capped at half its lifetime. 0 means DefaultKnoxRefreshMargin.
	RefreshMargin time.Duration
	// Now is the cache's clock; nil means time.Now.
	Now func() time.Time
	// Retry repeats a token request (a GET) that failed transiently; the
	// zero value is the default policy, NoRetry turns it off. 401 and 403
	// are never repeated.
	Retry RetryPolicy
}

// String shows the configuration with the password redacted.
func (c KnoxConfig) String() string {
	return fmt.Sprintf("cde.KnoxConfig{User: %q, Password: %s}", c.User, redactedIfSet(c.Password))
}

// GoString keeps %#v from printing the password.
func (c KnoxConfig) GoString() string { return c.String() }

// Format prints the redacted String form for every verb, so that no verb,
// not even a wrong one, makes fmt print the fields.
func (c KnoxConfig) Format(f fmt.State, verb rune) { formatRedacted(f, verb, c.String()) }

// LogValue redacts the password in slog output.
func (c KnoxConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", c.User), slog.String("password", redactedIfSet(c.Password)))
}

// KnoxTokenSource fetches Knox tokens with a workload user's basic
// credentials and caches one per CDE service host until shortly before it
// expires. It is safe for concurrent use: concurrent callers for one host
// share a single fetch.
type KnoxTokenSource struct {
	// creds is behind a pointer so that fmt's reflection (e.g. a bad verb
	// on a value holding this source) prints an address, not the password.
	creds  *basicAuth
	hc     *http.Client
	margin time.Duration
	now    func() time.Time
	retry  RetryPolicy

	mu    sync.Mutex
	hosts map[string]*knoxHost
}

type basicAuth struct{ user, password string }

// knoxHost is the cache of one service host.
type knoxHost struct {
	// fetch serialises fetches for the host; a channel rather than a mutex
	// so that a waiting caller can give up when its context ends.
	fetch chan struct{}

	mu        sync.Mutex
	token     string
	forever   bool      // expires_in was -1
	refreshAt time.Time // zero: do not reuse
}

// NewKnoxTokenSource returns a token source for the workload user of cfg.
func NewKnoxTokenSource(cfg KnoxConfig) (*KnoxTokenSource, error) {
	if cfg.User == "" || cfg.Password == "" {
		return nil, errors.New("cde: Knox token source needs the workload user and password")
	}
	k := &KnoxTokenSource{
		creds:  &basicAuth{user: cfg.User, password: cfg.Password},
		hc:     defaultHTTPClient(cfg.HTTPClient),
		margin: cfg.RefreshMargin,
		now:    cfg.Now,
		retry:  cfg.Retry,
		hosts:  map[string]*knoxHost{},
	}
	if k.margin <= 0 {
		k.margin = DefaultKnoxRefreshMargin
	}
	if k.now == nil {
		k.now = time.Now
	}
	return k, nil
}

// String shows the user, never the password or a token.
func (k *KnoxTokenSource) String() string {
	return fmt.Sprintf("cde.KnoxTokenSource{User: %q, Password: REDACTED}", k.creds.user)
}

// GoString keeps %#v from printing the password and cached tokens.
func (k *KnoxTokenSource) GoString() string { return k.String() }

// Format prints the redacted String form for every verb, so that no verb,
// not even a wrong one, makes fmt print the fields.
func (k *KnoxTokenSource) Format(f fmt.State, verb rune) { formatRedacted(f, verb, k.String()) }

// LogValue redacts the password in slog output.
func (k *KnoxTokenSource) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", k.creds.user), slog.String("password", redacted))
}

// ForHost binds the source to one service host (ServiceDescription's
// ClusterFqdn), as NewJobsClient needs.
func (k *KnoxTokenSource) ForHost(clusterFqdn string) TokenSource {
	return knoxHostSource{k: k, host: clusterFqdn}
}

type knoxHostSource struct {
	k    *KnoxTokenSource
	host string
}

func (s knoxHostSource) Token(ctx context.Context) (string, error) { return s.k.Token(ctx, s.host) }
func (s knoxHostSource) Invalidate(token string)                   { s.k.invalidate(s.host, token) }
func (s knoxHostSource) String() string                            { return "cde.KnoxTokenSource.ForHost(" + s.host + ")" }
func (s knoxHostSource) GoString() string                          { return s.String() }
func (s knoxHostSource) LogValue() slog.Value                      { return slog.StringValue(s.String()) }
func (s knoxHostSource) Format(f fmt.State, verb rune)             { formatRedacted(f, verb, s.String()) }

// Token returns a valid token for the CDE service at clusterFqdn (a host,
// optionally with a port; an https:// URL is accepted too), from the cache
// or from GET https://{clusterFqdn}/gateway/authtkn/knoxtoken/api/v1/token.
// Wrong credentials give an *APIError matching ErrUnauthorized.
func (k *KnoxTokenSource) Token(ctx context.Context, clusterFqdn string) (string, error) {
	host, err := knoxHostName(clusterFqdn)
	if err != nil {
		return "", err
	}
	h := k.host(host)
	if tok, ok := h.cached(k.now()); ok {
		return tok, nil
	}
	select {
	case h.fetch <- struct{}{}:
	case <-ctx.Done():
		return "", fmt.Errorf("cde: knoxToken: %w", ctx.Err())
	}
	defer func() { <-h.fetch }()
	// Another caller may have refreshed while this one waited.
	if tok, ok := h.cached(k.now()); ok {
		return tok, nil
	}
	fetchedAt := k.now()
	tok, expiresIn, err := k.fetch(ctx, host)
	if err != nil {
		return "", err
	}
	h.store(tok, expiresIn, fetchedAt, k.margin)
	return tok, nil
}

// Invalidate drops the cached token of clusterFqdn, whatever it is.
func (k *KnoxTokenSource) Invalidate(clusterFqdn string) {
	host, err := knoxHostName(clusterFqdn)
	if err != nil {
		return
	}
	h := k.host(host)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.token, h.forever, h.refreshAt = "", false, time.Time{}
}

// invalidate drops the cached token of clusterFqdn only if it is still the
// refused one, so that many callers hit by the same 401 refresh once.
func (k *KnoxTokenSource) invalidate(clusterFqdn, token string) {
	host, err := knoxHostName(clusterFqdn)
	if err != nil {
		return
	}
	h := k.host(host)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.token == token {
		h.token, h.forever, h.refreshAt = "", false, time.Time{}
	}
}

func (k *KnoxTokenSource) host(host string) *knoxHost {
	k.mu.Lock()
	defer k.mu.Unlock()
	h, ok := k.hosts[host]
	if !ok {
		h = &knoxHost{fetch: make(chan struct{}, 1)}
		k.hosts[host] = h
	}
	return h
}

func (h *knoxHost) cached(now time.Time) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.token == "" || (!h.forever && !now.Before(h.refreshAt)) {
		return "", false
	}
	return h.token, true
}

// store caches tok according to Knox's expires_in (absolute epoch ms; -1 =
// never expires). A token without a usable expiry (0, absent, or already
// past by this clock) is handed out once and not cached.
func (h *knoxHost) store(tok string, expiresIn int64, fetchedAt time.Time, margin time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.token, h.forever, h.refreshAt = "", false, time.Time{}
	switch {
	case expiresIn == -1:
		h.token, h.forever = tok, true
	case expiresIn > 0:
		expiry := time.UnixMilli(expiresIn)
		ttl := expiry.Sub(fetchedAt)
		if ttl <= 0 {
			return
		}
		h.token, h.refreshAt = tok, expiry.Add(-min(margin, ttl/2))
	}
}

// fetch asks Knox for a token, again after a transient failure (k.retry).
func (k *KnoxTokenSource) fetch(ctx context.Context, host string) (tok string, expiresIn int64, err error) {
	err = k.retry.run(ctx, true, func() error {
		var err error
		tok, expiresIn, err = k.fetchOnce(ctx, host)
		return err
	}, nil)
	return tok, expiresIn, err
}

func (k *KnoxTokenSource) fetchOnce(ctx context.Context, host string) (string, int64, error) {
	const op = "knoxToken"
	u := url.URL{Scheme: "https", Host: host, Path: knoxTokenPath}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", 0, fmt.Errorf("cde: %s: %w", op, err)
	}
	req.SetBasicAuth(k.creds.user, k.creds.password)
	req.Header.Set("Accept", "application/json")
	resp, err := k.hc.Do(req)
	if err != nil {
		return "", 0, fmt.Errorf("cde: %s: %w", op, err)
	}
	defer drain(resp.Body)
	body, err := readBody(resp)
	if err != nil {
		return "", 0, fmt.Errorf("cde: %s: read response: %w", op, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		basic := base64.StdEncoding.EncodeToString([]byte(k.creds.user + ":" + k.creds.password))
		return "", 0, newAPIError(op, http.MethodGet, knoxTokenPath, resp, body, k.now(), k.creds.password, basic)
	}
	var tr knoxTokenResponse
	if err := decodeJSON(body, &tr); err != nil {
		return "", 0, fmt.Errorf("cde: %s: %w", op, err)
	}
	if tr.AccessToken == "" {
		return "", 0, fmt.Errorf("cde: %s: response has no access_token: %w", op, ErrMalformedResponse)
	}
	return tr.AccessToken, tr.ExpiresIn, nil
}

// knoxHostName accepts "host", "host:port" or an https URL and returns the
// host[:port], refusing anything that would change the request's target.
func knoxHostName(clusterFqdn string) (string, error) {
	s := strings.TrimSpace(clusterFqdn)
	if strings.Contains(s, "://") {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" {
			return "", fmt.Errorf("cde: Knox host %q must be a host name or an https URL", clusterFqdn)
		}
		s = u.Host
	}
	if s == "" || strings.ContainsAny(s, "/?#@ \\") {
		return "", fmt.Errorf("cde: Knox host %q is not a host name", clusterFqdn)
	}
	return strings.ToLower(s), nil
}
