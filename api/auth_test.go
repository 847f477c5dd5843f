package api

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/internal/testsupport"
)

// Tokens of the same length, so that a rotation changes neither the file's size nor the
// header's length: only the file's identity, its time or a re-read can reveal it.
const (
	tokenA = "tokA-2f8a3c9d4e5b6a7f8091a2b3c4d5e6f7"
	tokenB = "tokB-9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b"
)

// authorised is what a protected route answers once the call is let through: a malformed body
// is a 400 before anything needs Temporal.
const authorised = http.StatusBadRequest

// clock is the injected clock of a TokenFile.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

type authFixture struct {
	router http.Handler
	logs   *testsupport.SyncBuffer
	clock  *clock
}

// newAuthFixture serves the router with auth; token files are opened with newTokenFile so that
// they share the fixture's logger and clock.
func newAuthFixture(t *testing.T, auth func(f *authFixture) Auth) *authFixture {
	t.Helper()
	f := &authFixture{logs: &testsupport.SyncBuffer{}, clock: &clock{now: time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)}}
	logger := slog.New(slog.NewJSONHandler(f.logs, nil))
	srv := New(Config{TaskQueue: "q", Auth: auth(f)}, testsupport.HealthyTemporal{}, logger)
	f.router = srv.Router()
	return f
}

func (f *authFixture) newTokenFile(path string, grace time.Duration) *TokenFile {
	logger := slog.New(slog.NewJSONHandler(f.logs, nil))
	tf := &TokenFile{path: path, grace: grace, log: logger, now: f.clock.Now}
	tf.mu.Lock()
	defer tf.mu.Unlock()
	tf.refresh()
	return tf
}

// call sends a protected call (or GET /health) with the given Authorization headers.
func (f *authFixture) call(t *testing.T, method, path string, authorization ...string) *httptest.ResponseRecorder {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(`{"descriptorKind":`))
	for _, a := range authorization {
		req.Header.Add("Authorization", a)
	}
	rec := httptest.NewRecorder()
	f.router.ServeHTTP(rec, req)
	return rec
}

func (f *authFixture) provision(t *testing.T, authorization ...string) int {
	t.Helper()
	return f.call(t, http.MethodPost, "/v1/provision", authorization...).Code
}

// secretDir lays out a token like a Kubernetes Secret volume: token -> ..data/token, with
// ..data a symlink to a timestamped directory that a rotation replaces atomically.
type secretDir struct {
	dir string
	gen int
}

func newSecretDir(t *testing.T, token string) *secretDir {
	t.Helper()
	s := &secretDir{dir: t.TempDir()}
	s.rotate(t, token)
	require.NoError(t, os.Symlink(filepath.Join("..data", "token"), s.path()))
	return s
}

func (s *secretDir) path() string { return filepath.Join(s.dir, "token") }

// rotate does what the kubelet does on a Secret update: write the new version to a new
// directory, then swap the ..data symlink with a rename.
func (s *secretDir) rotate(t *testing.T, token string) {
	t.Helper()
	s.gen++
	version := filepath.Join(s.dir, "..2026_11_29_12_00_0"+string(rune('0'+s.gen)))
	require.NoError(t, os.Mkdir(version, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(version, "token"), []byte(token+"\n"), 0o600))
	tmp := filepath.Join(s.dir, "..data_tmp")
	require.NoError(t, os.Symlink(filepath.Base(version), tmp))
	require.NoError(t, os.Rename(tmp, filepath.Join(s.dir, "..data")))
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

func TestBearerTokenAuthentication(t *testing.T) {
	tests := []struct {
		name          string
		authorization []string
		status        int
		challenge     string // expected WWW-Authenticate on a 401
		reason        string // logged on a 401
	}{
		{"the configured token is accepted", []string{"Bearer " + tokenA}, authorised, "", ""},
		{"the scheme is case-insensitive", []string{"bearer " + tokenA}, authorised, "", ""},
		{"no Authorization header is refused", nil, http.StatusUnauthorized, `Bearer realm="cde-spark-provisioner"`, "no Authorization header"},
		{"a wrong token is refused", []string{"Bearer " + tokenB}, http.StatusUnauthorized, `Bearer realm="cde-spark-provisioner", error="invalid_token"`, "wrong bearer token"},
		{"a prefix of the token is refused", []string{"Bearer " + tokenA[:len(tokenA)-1]}, http.StatusUnauthorized, `Bearer realm="cde-spark-provisioner", error="invalid_token"`, "wrong bearer token"},
		{"the token with a character more is refused", []string{"Bearer " + tokenA + "0"}, http.StatusUnauthorized, `Bearer realm="cde-spark-provisioner", error="invalid_token"`, "wrong bearer token"},
		{"Basic credentials are refused", []string{"Basic dXNlcjpwYXNzd29yZA=="}, http.StatusUnauthorized, `Bearer realm="cde-spark-provisioner"`, "not a Bearer credential"},
		{"the token without a scheme is refused", []string{tokenA}, http.StatusUnauthorized, `Bearer realm="cde-spark-provisioner"`, "not a Bearer credential"},
		{"Bearer with no token is refused", []string{"Bearer"}, http.StatusUnauthorized, `Bearer realm="cde-spark-provisioner"`, "Bearer with no token"},
		{"Bearer followed by spaces only is refused", []string{"Bearer    "}, http.StatusUnauthorized, `Bearer realm="cde-spark-provisioner"`, "Bearer with no token"},
		{"two Authorization headers are refused", []string{"Bearer " + tokenA, "Bearer " + tokenA}, http.StatusUnauthorized, `Bearer realm="cde-spark-provisioner"`, "more than one Authorization header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tokenA+"\n")
			f := newAuthFixture(t, func(f *authFixture) Auth { return Auth{Token: f.newTokenFile(path, time.Minute)} })
			rec := f.call(t, http.MethodPost, "/v1/provision", tt.authorization...)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			if tt.status != http.StatusUnauthorized {
				assert.Empty(t, rec.Header().Get("WWW-Authenticate"))
				assert.NotContains(t, f.logs.String(), "call refused")
				return
			}
			assert.Equal(t, tt.challenge, rec.Header().Get("WWW-Authenticate"))
			assertSystemError(t, rec)

			var line map[string]any
			for _, l := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
				if strings.Contains(l, `"call refused"`) {
					require.NoError(t, json.Unmarshal([]byte(l), &line))
				}
			}
			require.NotNil(t, line, "the refusal is logged: %s", f.logs.String())
			assert.Equal(t, "WARN", line["level"])
			assert.Equal(t, http.MethodPost, line["method"])
			assert.Equal(t, "/v1/provision", line["route"])
			assert.Equal(t, "192.0.2.1:1234", line["remoteAddr"], "httptest's client address")
			assert.Contains(t, line["reason"], tt.reason)
		})
	}
}

func assertSystemError(t *testing.T, rec *httptest.ResponseRecorder) {
	t.Helper()
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var body SystemError
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body), rec.Body.String())
	assert.NotEmpty(t, body.Error)
	assert.NotEmpty(t, body.UserMessage)
	require.NotNil(t, body.MoreInfo)
	assert.Equal(t, []string{body.Error}, body.MoreInfo.Problems)
	assert.NotEmpty(t, body.MoreInfo.Solutions)
}

func TestEveryTechAdapterRouteNeedsTheToken(t *testing.T) {
	path := writeFile(t, tokenA)
	f := newAuthFixture(t, func(f *authFixture) Auth { return Auth{Token: f.newTokenFile(path, 0)} })
	routes := []struct{ method, path string }{
		{http.MethodPost, "/v1/validate"},
		{http.MethodPost, "/v2/validate"},
		{http.MethodGet, "/v2/validate/x/status"},
		{http.MethodPost, "/v1/provision"},
		{http.MethodPost, "/v1/unprovision"},
		{http.MethodGet, "/v1/provision/x/status"},
		{http.MethodPost, "/v1/updateacl"},
		{http.MethodPost, "/v1/reverse-provisioning"},
		{http.MethodGet, "/v1/reverse-provisioning/x/status"},
	}
	for _, r := range routes {
		assert.Equal(t, http.StatusUnauthorized, f.call(t, r.method, r.path).Code, "%s %s", r.method, r.path)
	}
}

func TestHealthStaysOpenWhileAuthIsOn(t *testing.T) {
	tests := []struct {
		name string
		auth func(t *testing.T, f *authFixture) Auth
	}{
		{"bearer token", func(t *testing.T, f *authFixture) Auth { return Auth{Token: f.newTokenFile(writeFile(t, tokenA), 0)} }},
		{"token file missing", func(t *testing.T, f *authFixture) Auth {
			return Auth{Token: f.newTokenFile(filepath.Join(t.TempDir(), "absent"), 0)}
		}},
		{"client certificate", func(*testing.T, *authFixture) Auth { return Auth{ClientCert: true} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAuthFixture(t, func(f *authFixture) Auth { return tt.auth(t, f) })
			rec := f.call(t, http.MethodGet, "/health")
			assert.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
			assert.Equal(t, http.StatusUnauthorized, f.provision(t))
		})
	}
}

func TestTokenFileContent(t *testing.T) {
	tests := []struct {
		name    string
		content string
		problem string // "" when the token is usable
	}{
		{"a trailing newline is stripped", tokenA + "\n", ""},
		{"a trailing CRLF and spaces are stripped", "  " + tokenA + " \r\n", ""},
		{"an empty file fails closed", "", "is empty"},
		{"a file of whitespace fails closed", " \n\t\n", "is empty"},
		{"a short token fails closed", "short-secret\n", "shorter than 16 characters"},
		{"a token with inner whitespace fails closed", "tokA-2f8a3c9d 4e5b6a7f8091a2b3c4d5e6f7", "whitespace"},
		{"a file larger than a token fails closed", strings.Repeat("x", maxTokenFileBytes+1), "more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeFile(t, tt.content)
			f := newAuthFixture(t, func(f *authFixture) Auth { return Auth{Token: f.newTokenFile(path, 0)} })
			present := strings.TrimSpace(tt.content)
			status := f.provision(t, "Bearer "+present)
			if tt.problem == "" {
				assert.Equal(t, authorised, status)
				return
			}
			assert.Equal(t, http.StatusUnauthorized, status)
			assert.Contains(t, f.logs.String(), tt.problem)
			if present != "" && len(present) < 100 {
				assert.NotContains(t, f.logs.String(), present, "the file's content is never logged")
			}
		})
	}
}

func TestUnusableTokenFileFailsClosed(t *testing.T) {
	tests := []struct {
		name string
		path func(t *testing.T) string
	}{
		{"missing file", func(t *testing.T) string { return filepath.Join(t.TempDir(), "token") }},
		{"a directory", func(t *testing.T) string { return t.TempDir() }},
		{"a dangling Secret symlink", func(t *testing.T) string {
			p := filepath.Join(t.TempDir(), "token")
			require.NoError(t, os.Symlink(filepath.Join("..data", "token"), p))
			return p
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path(t)
			f := newAuthFixture(t, func(f *authFixture) Auth { return Auth{Token: f.newTokenFile(path, time.Hour)} })
			for range 3 {
				rec := f.call(t, http.MethodPost, "/v1/provision", "Bearer "+tokenA)
				assert.Equal(t, http.StatusUnauthorized, rec.Code)
				assert.Contains(t, rec.Body.String(), "no usable token")
				assertSystemError(t, rec)
			}
			assert.Equal(t, 1, strings.Count(f.logs.String(), "bearer token file unusable"), "logged once per change, not per call:\n%s", f.logs.String())
			assert.Equal(t, 3, strings.Count(f.logs.String(), "call refused"), "every refused call is logged")
		})
	}
}

func TestTokenFileThatGoesBadFailsClosedAndRecovers(t *testing.T) {
	path := writeFile(t, tokenA)
	f := newAuthFixture(t, func(f *authFixture) Auth { return Auth{Token: f.newTokenFile(path, time.Hour)} })
	require.Equal(t, authorised, f.provision(t, "Bearer "+tokenA))

	require.NoError(t, os.Remove(path))
	assert.Equal(t, http.StatusUnauthorized, f.provision(t, "Bearer "+tokenA), "a removed file refuses even its last token")
	assert.Contains(t, f.logs.String(), "bearer token file unusable")

	require.NoError(t, os.WriteFile(path, []byte(tokenB), 0o600))
	assert.Equal(t, authorised, f.provision(t, "Bearer "+tokenB), "a fixed file is picked up without a restart")
	assert.Equal(t, http.StatusUnauthorized, f.provision(t, "Bearer "+tokenA), "a file that went bad in between is no rotation: no grace")
}

func TestRotatedTokenIsAcceptedWithoutRestart(t *testing.T) {
	const grace = 5 * time.Minute
	tests := []struct {
		name   string
		grace  time.Duration
		rotate func(t *testing.T, path string, s *secretDir)
	}{
		{"Kubernetes symlink swap", grace, func(t *testing.T, _ string, s *secretDir) { s.rotate(t, tokenB) }},
		{"Kubernetes symlink swap without grace", 0, func(t *testing.T, _ string, s *secretDir) { s.rotate(t, tokenB) }},
		{"file rewritten in place with a new time", grace, func(t *testing.T, path string, _ *secretDir) {
			fi, err := os.Stat(path)
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(path, []byte(tokenB+"\n"), 0o600))
			require.NoError(t, os.Chtimes(path, fi.ModTime(), fi.ModTime().Add(time.Second)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSecretDir(t, tokenA)
			f := newAuthFixture(t, func(f *authFixture) Auth { return Auth{Token: f.newTokenFile(s.path(), tt.grace)} })
			require.Equal(t, authorised, f.provision(t, "Bearer "+tokenA))
			require.Equal(t, http.StatusUnauthorized, f.provision(t, "Bearer "+tokenB))

			tt.rotate(t, s.path(), s)
			assert.Equal(t, authorised, f.provision(t, "Bearer "+tokenB), "the new token is accepted at once")
			if tt.grace == 0 {
				assert.Equal(t, http.StatusUnauthorized, f.provision(t, "Bearer "+tokenA), "without grace the old token is refused at once")
				return
			}
			f.clock.Advance(tt.grace - time.Nanosecond)
			assert.Equal(t, authorised, f.provision(t, "Bearer "+tokenA), "the old token is accepted within the grace period")
			f.clock.Advance(time.Nanosecond)
			assert.Equal(t, http.StatusUnauthorized, f.provision(t, "Bearer "+tokenA), "the old token is refused after the grace period")
			assert.Equal(t, authorised, f.provision(t, "Bearer "+tokenB))
			assert.Contains(t, f.logs.String(), "bearer token rotated")
		})
	}
}

func TestRewriteWithTheSameStampIsPickedUpByThePeriodicReread(t *testing.T) {
	path := writeFile(t, tokenA)
	f := newAuthFixture(t, func(f *authFixture) Auth { return Auth{Token: f.newTokenFile(path, 0)} })
	require.Equal(t, authorised, f.provision(t, "Bearer "+tokenA))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	// Same inode, same size, same modification time: a coarse file system cannot tell.
	require.NoError(t, os.WriteFile(path, []byte(tokenB), 0o600))
	require.NoError(t, os.Chtimes(path, fi.ModTime(), fi.ModTime()))

	assert.Equal(t, authorised, f.provision(t, "Bearer "+tokenA), "the stamp did not change: the file is not read again yet")
	f.clock.Advance(tokenRereadInterval)
	assert.Equal(t, authorised, f.provision(t, "Bearer "+tokenB))
	assert.Equal(t, http.StatusUnauthorized, f.provision(t, "Bearer "+tokenA))
}

func TestConcurrentCallsDuringARotationAreServed(t *testing.T) {
	s := newSecretDir(t, tokenA)
	f := newAuthFixture(t, func(f *authFixture) Auth { return Auth{Token: f.newTokenFile(s.path(), time.Hour)} })
	var wg sync.WaitGroup
	statuses := make(chan int, 8*50)
	for range 8 {
		wg.Go(func() {
			for range 50 {
				statuses <- f.provision(t, "Bearer "+tokenA)
			}
		})
	}
	s.rotate(t, tokenB)
	wg.Wait()
	close(statuses)
	for status := range statuses {
		assert.Equal(t, authorised, status, "the old token is within its grace period throughout")
	}
	assert.Equal(t, authorised, f.provision(t, "Bearer "+tokenB))
}

func TestLogsHoldNoCredential(t *testing.T) {
	short := "short-secret-x" // too short: refused as a token file content, and never logged
	s := newSecretDir(t, tokenA)
	f := newAuthFixture(t, func(f *authFixture) Auth { return Auth{Token: f.newTokenFile(s.path(), time.Minute)} })
	presented := []string{
		"Bearer " + tokenA,
		"Bearer " + tokenB,
		"Basic dXNlcjpwYXNzd29yZA==",
		tokenB,
		"Bearer " + tokenA + "0",
	}
	for _, a := range presented {
		f.provision(t, a)
	}
	s.rotate(t, tokenB)
	f.provision(t, "Bearer "+tokenB)
	s.rotate(t, short)
	f.provision(t, "Bearer "+short)

	logs := f.logs.String()
	require.Contains(t, logs, "call refused")
	require.Contains(t, logs, "bearer token rotated")
	require.Contains(t, logs, "bearer token file unusable")
	for _, secret := range []string{tokenA, tokenB, short, "dXNlcjpwYXNzd29yZA=="} {
		assert.NotContains(t, logs, secret)
	}
}

func TestClientCertificateIsRequiredOnProtectedRoutes(t *testing.T) {
	verified := &tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{{}}}}
	unverified := &tls.ConnectionState{}
	tests := []struct {
		name      string
		withToken bool
		tls       *tls.ConnectionState
		bearer    string
		status    int
		challenge string
	}{
		{"a verified certificate is accepted", false, verified, "", authorised, ""},
		{"plain HTTP is refused", false, nil, "", http.StatusUnauthorized, ""},
		{"TLS without a client certificate is refused", false, unverified, "", http.StatusUnauthorized, ""},
		{"with a token too, the certificate alone is not enough", true, verified, "", http.StatusUnauthorized, `Bearer realm="cde-spark-provisioner"`},
		{"with a token too, the token alone is not enough", true, unverified, "Bearer " + tokenA, http.StatusUnauthorized, `Bearer realm="cde-spark-provisioner"`},
		{"with a token too, both are accepted", true, verified, "Bearer " + tokenA, authorised, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAuthFixture(t, func(f *authFixture) Auth {
				a := Auth{ClientCert: true}
				if tt.withToken {
					a.Token = f.newTokenFile(writeFile(t, tokenA), 0)
				}
				return a
			})
			req := httptest.NewRequest(http.MethodPost, "/v1/provision", strings.NewReader("{"))
			req.TLS = tt.tls
			if tt.bearer != "" {
				req.Header.Set("Authorization", tt.bearer)
			}
			rec := httptest.NewRecorder()
			f.router.ServeHTTP(rec, req)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			assert.Equal(t, tt.challenge, rec.Header().Get("WWW-Authenticate"))
			if tt.status == http.StatusUnauthorized {
				assertSystemError(t, rec)
			}
		})
	}
}

func TestAuthIsOffByDefault(t *testing.T) {
	f := newAuthFixture(t, func(*authFixture) Auth { return Auth{} })
	assert.Equal(t, authorised, f.provision(t))
	assert.Equal(t, authorised, f.provision(t, "Bearer whatever"))
}

// verifiedAs is the TLS state of a connection whose client certificate, of this common name and
// DNS names, the TLS layer verified.
func verifiedAs(cn string, dns ...string) *tls.ConnectionState {
	leaf := &x509.Certificate{Subject: pkix.Name{CommonName: cn}, DNSNames: dns}
	return &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf, {}}}}
}

func TestClientCertificateIdentityIsPinned(t *testing.T) {
	allowed := []string{"witboost-coordinator", "coordinator.witboost.example.com"}
	tests := []struct {
		name      string
		withToken bool
		tls       *tls.ConnectionState
		status    int
		challenge string
		reason    string // logged on a refusal
	}{
		{"an allowed common name is accepted", false, verifiedAs("witboost-coordinator"), authorised, "", ""},
		{"an allowed DNS name is accepted, whatever the certificate's common name", false,
			verifiedAs("Witboost Coordinator (prod)", "api.example.com", "coordinator.witboost.example.com"), authorised, "", ""},
		{"DNS names compare regardless of case", false, verifiedAs("", "Coordinator.Witboost.Example.COM"), authorised, "", ""},
		{"a common name compares exactly", false, verifiedAs("Witboost-Coordinator"), http.StatusForbidden, "",
			`client certificate identity not allowed: common name "Witboost-Coordinator", DNS names none`},
		{"another identity of the CA is refused with 403", false, verifiedAs("test-runner", "runner.example.com"), http.StatusForbidden, "",
			`client certificate identity not allowed: common name "test-runner", DNS names "runner.example.com"`},
		{"a name under an allowed DNS name is refused (no wildcard matching)", false, verifiedAs("other", "x.coordinator.witboost.example.com"), http.StatusForbidden, "", "not allowed"},
		{"no certificate is still a 401", false, &tls.ConnectionState{}, http.StatusUnauthorized, "", "no client certificate"},
		{"with a token too, a refused identity is a 403 even with the right token", true, verifiedAs("test-runner"), http.StatusForbidden, "", "not allowed"},
		{"with a token too, an allowed identity still needs the token", true, verifiedAs("witboost-coordinator"), http.StatusUnauthorized, `Bearer realm="cde-spark-provisioner"`, "no Authorization header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newAuthFixture(t, func(f *authFixture) Auth {
				a := Auth{ClientCert: true, ClientNames: allowed}
				if tt.withToken {
					a.Token = f.newTokenFile(writeFile(t, tokenA), 0)
				}
				return a
			})
			req := httptest.NewRequest(http.MethodPost, "/v1/provision", strings.NewReader("{"))
			req.TLS = tt.tls
			if tt.withToken && tt.status == http.StatusForbidden {
				req.Header.Set("Authorization", "Bearer "+tokenA)
			}
			rec := httptest.NewRecorder()
			f.router.ServeHTTP(rec, req)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			assert.Equal(t, tt.challenge, rec.Header().Get("WWW-Authenticate"))
			if tt.status == authorised {
				assert.NotContains(t, f.logs.String(), "call refused")
				return
			}
			assertSystemError(t, rec)
			var line struct{ Level, Reason string }
			for _, l := range strings.Split(strings.TrimSpace(f.logs.String()), "\n") {
				if strings.Contains(l, `"call refused"`) {
					require.NoError(t, json.Unmarshal([]byte(l), &line))
				}
			}
			assert.Equal(t, "WARN", line.Level)
			assert.Contains(t, line.Reason, tt.reason)
			if tt.status == http.StatusForbidden {
				var body SystemError
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &body))
				assert.Contains(t, body.Error, "identity is not allowed: common name")
				assert.Contains(t, body.MoreInfo.Solutions[0], "TLS_CLIENT_ALLOWED_NAMES")
				for _, name := range allowed {
					if !strings.Contains(certIdentity(tt.tls.VerifiedChains[0][0]), name) {
						assert.NotContains(t, rec.Body.String(), name, "a refused caller is not told which identities are allowed")
					}
				}
			}
		})
	}
}

func TestUnusableClientCAFailsClosed(t *testing.T) {
	var caProblem error
	f := newAuthFixture(t, func(*authFixture) Auth {
		return Auth{ClientCert: true, ClientCAStatus: func() error { return caProblem }}
	})
	call := func() *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, "/v1/provision", strings.NewReader("{"))
		req.TLS = verifiedAs("witboost-coordinator")
		rec := httptest.NewRecorder()
		f.router.ServeHTTP(rec, req)
		return rec
	}
	require.Equal(t, authorised, call().Code)

	caProblem = errors.New("TLS_CLIENT_CA_FILE: /etc/ca.crt: no such file or directory")
	rec := call()
	require.Equal(t, http.StatusUnauthorized, rec.Code, "a certificate verified before the CA went away is refused too")
	assertSystemError(t, rec)
	assert.Contains(t, rec.Body.String(), "no usable client CA")
	assert.Contains(t, rec.Body.String(), "TLS_CLIENT_CA_FILE")
	assert.NotContains(t, rec.Body.String(), "/etc/ca.crt", "the file's path is for the logs")
	assert.Contains(t, f.logs.String(), "the client CA file is unusable")
	assert.Equal(t, http.StatusOK, f.call(t, http.MethodGet, "/health").Code, "/health stays open")

	caProblem = nil
	assert.Equal(t, authorised, call().Code)
}
