package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/internal/testsupport"
)

// authorised is what a protected route answers once the call is let through: a malformed body
// is a 400 before anything needs Temporal.
const authorised = http.StatusBadRequest

const testToken = "tok-7b1e4c2a9d8f6e5c3b2a1f0e9d8c7b6a"

func copyFile(t *testing.T, p *testsupport.PKI, from, to string) {
	t.Helper()
	content, err := os.ReadFile(from)
	require.NoError(t, err)
	p.Write(to, content)
}

// runAPI serves RunAPI on a 127.0.0.1 listener until the test ends.
func runAPI(t *testing.T, change func(*APIConfig)) (string, *testsupport.SyncBuffer) {
	t.Helper()
	cfg := APIConfig{
		Temporal:        TemporalConfig{Namespace: "default", TaskQueue: "q"},
		SyncTimeout:     5 * time.Second,
		MaxRequestBytes: 1 << 20,
		ShutdownTimeout: 5 * time.Second,
	}
	change(&cfg)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	logs := &testsupport.SyncBuffer{}
	logger := slog.New(slog.NewJSONHandler(logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunAPI(ctx, cfg, testsupport.HealthyTemporal{}, ln, logger) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return ln.Addr().String(), logs
}

// httpsClient trusts roots and presents certs; every call opens a new connection, so that
// every call is a full handshake against the files of the moment. Like any well-behaved
// client, it presents a certificate only if it was issued by a CA the server names in its
// certificate request; forcing makes it present the certificate anyway, like an attacker.
func httpsClient(roots *x509.CertPool, certs ...tls.Certificate) *http.Client {
	return newHTTPSClient(&tls.Config{RootCAs: roots, Certificates: certs, MinVersion: tls.VersionTLS12})
}

func forcingClient(roots *x509.CertPool, cert tls.Certificate) *http.Client {
	return newHTTPSClient(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }})
}

func newHTTPSClient(config *tls.Config) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   config,
		DisableKeepAlives: true,
		ForceAttemptHTTP2: true,
	}}
}

func pool(cas ...testsupport.Issuer) *x509.CertPool {
	p := x509.NewCertPool()
	for _, ca := range cas {
		p.AddCert(ca.Cert)
	}
	return p
}

// get and post call the API; a protected route gets a malformed body.
func get(c *http.Client, url string, header ...string) (*http.Response, error) {
	return send(c, http.MethodGet, url, header...)
}

func post(c *http.Client, url string, header ...string) (*http.Response, error) {
	return send(c, http.MethodPost, url, header...)
}

func send(c *http.Client, method, url string, header ...string) (*http.Response, error) {
	req, err := http.NewRequest(method, url, strings.NewReader("{"))
	if err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return resp, nil
}

func TestMutualTLS(t *testing.T) {
	p := testsupport.NewPKI(t)
	serverCA, clientCA, otherCA := p.CA("server-ca"), p.CA("client-ca"), p.CA("other-ca")
	_, serverCert, serverKey := p.Leaf(serverCA, "api", testsupport.LeafOptions{Usage: x509.ExtKeyUsageServerAuth})
	coordinator, _, _ := p.Leaf(clientCA, "coordinator", testsupport.LeafOptions{Usage: x509.ExtKeyUsageClientAuth})
	stranger, _, _ := p.Leaf(otherCA, "stranger", testsupport.LeafOptions{Usage: x509.ExtKeyUsageClientAuth})
	expired, _, _ := p.Leaf(clientCA, "expired", testsupport.LeafOptions{Usage: x509.ExtKeyUsageClientAuth, NotAfter: time.Now().Add(-time.Hour)})
	serverOnly, _, _ := p.Leaf(clientCA, "server-only", testsupport.LeafOptions{Usage: x509.ExtKeyUsageServerAuth})

	addr, logs := runAPI(t, func(c *APIConfig) {
		c.TLSCertFile, c.TLSKeyFile, c.TLSClientCAFile = serverCert, serverKey, clientCA.File
	})
	base := "https://" + addr
	roots := pool(serverCA)

	tests := []struct {
		name   string
		client *http.Client
		status int // 0: the handshake fails
	}{
		{"a client certificate from the configured CA is accepted", httpsClient(roots, coordinator), authorised},
		{"a client certificate from another CA is not presented, hence a 401", httpsClient(roots, stranger), http.StatusUnauthorized},
		{"a client certificate from another CA is refused at the TLS layer", forcingClient(roots, stranger), 0},
		{"an expired client certificate from the CA is refused at the TLS layer", forcingClient(roots, expired), 0},
		{"a certificate of the CA not meant for clients is refused at the TLS layer", forcingClient(roots, serverOnly), 0},
		{"no client certificate is a 401 on protected routes", httpsClient(roots), http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := post(tt.client, base+"/v1/provision")
			if tt.status == 0 {
				require.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.status, resp.StatusCode)
			assert.Equal(t, 2, resp.ProtoMajor, "HTTP/2 is negotiated over TLS")
			assert.Empty(t, resp.Header.Get("WWW-Authenticate"), "no HTTP challenge answers a missing certificate")
		})
	}

	t.Run("health answers probes without a client certificate", func(t *testing.T) {
		resp, err := get(httpsClient(roots), base+"/health")
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	})
	t.Run("plain HTTP is not served", func(t *testing.T) {
		resp, err := get(&http.Client{Timeout: 10 * time.Second}, "http://"+addr+"/health")
		require.NoError(t, err)
		assert.Equal(t, http.StatusBadRequest, resp.StatusCode, "Go's answer to HTTP on an HTTPS port")
	})
	t.Run("the refusal is logged without certificate contents", func(t *testing.T) {
		l := logs.String()
		assert.Contains(t, l, `"reason":"no client certificate"`)
		assert.Contains(t, l, `"route":"/v1/provision"`)
		assert.NotContains(t, l, "BEGIN CERTIFICATE")
		assert.NotContains(t, l, "coordinator")
	})
}

func TestTokenAndMutualTLSTogetherNeedBoth(t *testing.T) {
	p := testsupport.NewPKI(t)
	serverCA, clientCA := p.CA("server-ca"), p.CA("client-ca")
	_, serverCert, serverKey := p.Leaf(serverCA, "api", testsupport.LeafOptions{Usage: x509.ExtKeyUsageServerAuth})
	coordinator, _, _ := p.Leaf(clientCA, "coordinator", testsupport.LeafOptions{Usage: x509.ExtKeyUsageClientAuth})
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(testToken+"\n"), 0o600))

	addr, logs := runAPI(t, func(c *APIConfig) {
		c.TLSCertFile, c.TLSKeyFile, c.TLSClientCAFile = serverCert, serverKey, clientCA.File
		c.AuthTokenFile, c.AuthTokenGracePeriod = tokenFile, time.Minute
	})
	url := "https://" + addr + "/v1/provision"
	tests := []struct {
		name   string
		certs  []tls.Certificate
		header []string
		status int
	}{
		{"certificate and token are accepted", []tls.Certificate{coordinator}, []string{"Authorization", "Bearer " + testToken}, authorised},
		{"a certificate without the token is refused", []tls.Certificate{coordinator}, nil, http.StatusUnauthorized},
		{"a certificate with a wrong token is refused", []tls.Certificate{coordinator}, []string{"Authorization", "Bearer " + strings.ToUpper(testToken)}, http.StatusUnauthorized},
		{"the token without a certificate is refused", nil, []string{"Authorization", "Bearer " + testToken}, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := post(httpsClient(pool(serverCA), tt.certs...), url, tt.header...)
			require.NoError(t, err)
			assert.Equal(t, tt.status, resp.StatusCode)
			if tt.status == http.StatusUnauthorized {
				assert.True(t, strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer "), resp.Header.Get("WWW-Authenticate"))
			}
		})
	}
	assert.NotContains(t, logs.String(), testToken)
	assert.NotContains(t, logs.String(), strings.ToUpper(testToken))
}

func TestBearerTokenOverHTTPS(t *testing.T) {
	p := testsupport.NewPKI(t)
	serverCA := p.CA("server-ca")
	_, serverCert, serverKey := p.Leaf(serverCA, "api", testsupport.LeafOptions{Usage: x509.ExtKeyUsageServerAuth})
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(testToken), 0o600))
	addr, logs := runAPI(t, func(c *APIConfig) {
		c.TLSCertFile, c.TLSKeyFile, c.AuthTokenFile = serverCert, serverKey, tokenFile
	})
	c := httpsClient(pool(serverCA))

	resp, err := post(c, "https://"+addr+"/v1/provision", "Authorization", "Bearer "+testToken)
	require.NoError(t, err)
	assert.Equal(t, authorised, resp.StatusCode)
	resp, err = post(c, "https://"+addr+"/v1/provision")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, err = get(c, "https://"+addr+"/health")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.NotContains(t, logs.String(), "clear text", "no warning when the API serves HTTPS itself")
}

func TestBearerTokenOverPlainHTTPWarns(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(testToken), 0o600))
	addr, logs := runAPI(t, func(c *APIConfig) { c.AuthTokenFile = tokenFile })
	c := &http.Client{Timeout: 10 * time.Second}

	resp, err := post(c, "http://"+addr+"/v1/provision", "Authorization", "Bearer "+testToken)
	require.NoError(t, err)
	assert.Equal(t, authorised, resp.StatusCode)
	resp, err = post(c, "http://"+addr+"/v1/provision", "Authorization", "Bearer wrong-token-0123456789")
	require.NoError(t, err)
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	assert.Contains(t, logs.String(), "clear text")
}

func TestAccessControlIsOffByDefault(t *testing.T) {
	addr, _ := runAPI(t, func(*APIConfig) {})
	resp, err := post(&http.Client{Timeout: 10 * time.Second}, "http://"+addr+"/v1/provision")
	require.NoError(t, err)
	assert.Equal(t, authorised, resp.StatusCode)
}

func TestTLSFilesAreReloadedWhenTheyChange(t *testing.T) {
	p := testsupport.NewPKI(t)
	serverCA, clientCA, newClientCA := p.CA("server-ca"), p.CA("client-ca"), p.CA("new-client-ca")
	first, serverCert, serverKey := p.Leaf(serverCA, "api", testsupport.LeafOptions{Usage: x509.ExtKeyUsageServerAuth})
	second, secondCert, secondKey := p.Leaf(serverCA, "api-renewed", testsupport.LeafOptions{Usage: x509.ExtKeyUsageServerAuth})
	coordinator, _, _ := p.Leaf(clientCA, "coordinator", testsupport.LeafOptions{Usage: x509.ExtKeyUsageClientAuth})
	renewed, _, _ := p.Leaf(newClientCA, "coordinator-renewed", testsupport.LeafOptions{Usage: x509.ExtKeyUsageClientAuth})
	caFile := filepath.Join(p.Dir, "client-ca-bundle.pem")
	copyFile(t, p, clientCA.File, caFile)

	addr, logs := runAPI(t, func(c *APIConfig) {
		c.TLSCertFile, c.TLSKeyFile, c.TLSClientCAFile = serverCert, serverKey, caFile
	})
	url := "https://" + addr + "/v1/provision"
	serial := func(t *testing.T, certs ...tls.Certificate) (string, int) {
		t.Helper()
		c := httpsClient(pool(serverCA), certs...)
		req, err := http.NewRequest(http.MethodPost, url, strings.NewReader("{"))
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.String(), resp.StatusCode
	}
	serialOf := func(c tls.Certificate) string {
		x, err := x509.ParseCertificate(c.Certificate[0])
		require.NoError(t, err)
		return x.SerialNumber.String()
	}

	s, status := serial(t, coordinator)
	require.Equal(t, serialOf(first), s)
	require.Equal(t, authorised, status)

	// cert-manager renews the server certificate: the next handshake presents the new one.
	copyFile(t, p, secondCert, serverCert)
	copyFile(t, p, secondKey, serverKey)
	s, _ = serial(t, coordinator)
	assert.Equal(t, serialOf(second), s)
	assert.Contains(t, logs.String(), "TLS files reloaded")

	// A broken certificate file keeps the last good configuration, logged once.
	p.Write(serverCert, []byte("not a certificate"))
	for range 2 {
		s, status = serial(t, coordinator)
		assert.Equal(t, serialOf(second), s)
		assert.Equal(t, authorised, status)
	}
	assert.Equal(t, 1, strings.Count(logs.String(), "do not load"), logs.String())
	copyFile(t, p, secondCert, serverCert)

	// The client CA is replaced: certificates of the old CA are refused, of the new accepted.
	copyFile(t, p, newClientCA.File, caFile)
	_, err := post(forcingClient(pool(serverCA), coordinator), url)
	require.Error(t, err, "a certificate of the retired CA fails the handshake")
	_, status = serial(t, coordinator)
	assert.Equal(t, http.StatusUnauthorized, status, "a well-behaved client no longer presents it")
	_, status = serial(t, renewed)
	assert.Equal(t, authorised, status)
}

func TestAccessConfigErrorsStopTheStart(t *testing.T) {
	p := testsupport.NewPKI(t)
	ca := p.CA("ca")
	_, cert, key := p.Leaf(ca, "api", testsupport.LeafOptions{Usage: x509.ExtKeyUsageServerAuth})
	_, otherCert, _ := p.Leaf(ca, "other", testsupport.LeafOptions{Usage: x509.ExtKeyUsageServerAuth})
	notPEM := filepath.Join(p.Dir, "not.pem")
	p.Write(notPEM, []byte("hello"))
	tests := []struct {
		name   string
		change func(*APIConfig)
		err    string
	}{
		{"a certificate without its key", func(c *APIConfig) { c.TLSCertFile = cert }, "TLS_CERT_FILE and TLS_KEY_FILE go together"},
		{"a key without its certificate", func(c *APIConfig) { c.TLSKeyFile = key }, "TLS_CERT_FILE and TLS_KEY_FILE go together"},
		{"a client CA over plain HTTP", func(c *APIConfig) { c.TLSClientCAFile = ca.File }, "TLS_CLIENT_CA_FILE needs TLS_CERT_FILE"},
		{"a negative grace period", func(c *APIConfig) { c.AuthTokenGracePeriod = -time.Second }, "AUTH_TOKEN_GRACE_PERIOD"},
		{"allowed client names without a client CA", func(c *APIConfig) {
			c.TLSCertFile, c.TLSKeyFile, c.TLSClientAllowedNames = cert, key, "coordinator"
		}, "TLS_CLIENT_ALLOWED_NAMES pins the identity of client certificates: it needs TLS_CLIENT_CA_FILE"},
		{"a missing certificate file", func(c *APIConfig) { c.TLSCertFile, c.TLSKeyFile = filepath.Join(p.Dir, "absent"), key }, "absent"},
		{"a key that is not the certificate's", func(c *APIConfig) { c.TLSCertFile, c.TLSKeyFile = otherCert, key }, "TLS_CERT_FILE/TLS_KEY_FILE"},
		{"a client CA file without a certificate", func(c *APIConfig) {
			c.TLSCertFile, c.TLSKeyFile, c.TLSClientCAFile = cert, key, notPEM
		}, "holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := APIConfig{ShutdownTimeout: time.Second}
			tt.change(&cfg)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			defer ln.Close()
			err = RunAPI(context.Background(), cfg, testsupport.HealthyTemporal{}, ln, slog.New(slog.DiscardHandler))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
		})
	}
}

func TestMutualTLSConnectionsAreNeverResumed(t *testing.T) {
	p := testsupport.NewPKI(t)
	serverCA, clientCA := p.CA("server-ca"), p.CA("client-ca")
	_, serverCert, serverKey := p.Leaf(serverCA, "api", testsupport.LeafOptions{Usage: x509.ExtKeyUsageServerAuth})
	coordinator, _, _ := p.Leaf(clientCA, "coordinator", testsupport.LeafOptions{Usage: x509.ExtKeyUsageClientAuth})
	addr, _ := runAPI(t, func(c *APIConfig) {
		c.TLSCertFile, c.TLSKeyFile, c.TLSClientCAFile = serverCert, serverKey, clientCA.File
	})
	c := newHTTPSClient(&tls.Config{RootCAs: pool(serverCA), Certificates: []tls.Certificate{coordinator},
		MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(4)})
	for i := range 3 {
		req, err := http.NewRequest(http.MethodPost, "https://"+addr+"/v1/provision", strings.NewReader("{"))
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, authorised, resp.StatusCode)
		assert.False(t, resp.TLS.DidResume, "connection %d: every client certificate is verified against the CA of the moment", i)
	}
}

// answer is a call's status, the SystemError of a refusal, and whether it went over a connection
// already used before.
type answer struct {
	status int
	body   api.SystemError
	reused bool
}

func provisionOver(t *testing.T, c *http.Client, url string) answer {
	t.Helper()
	var a answer
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) { a.reused = info.Reused }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodPost, url, strings.NewReader("{"))
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a.status = resp.StatusCode
	if a.status == http.StatusUnauthorized || a.status == http.StatusForbidden {
		require.NoError(t, json.Unmarshal(raw, &a.body), string(raw))
		require.NotNil(t, a.body.MoreInfo, string(raw))
		assert.Equal(t, []string{a.body.Error}, a.body.MoreInfo.Problems)
		assert.NotEmpty(t, a.body.UserMessage)
		assert.NotEmpty(t, a.body.MoreInfo.Solutions)
	}
	return a
}

func TestClientCertificateIdentityPinning(t *testing.T) {
	p := testsupport.NewPKI(t)
	serverCA, clientCA := p.CA("server-ca"), p.CA("client-ca")
	_, serverCert, serverKey := p.Leaf(serverCA, "api", testsupport.LeafOptions{Usage: x509.ExtKeyUsageServerAuth})
	byName, _, _ := p.Leaf(clientCA, "witboost-coordinator", testsupport.LeafOptions{Usage: x509.ExtKeyUsageClientAuth})
	bySAN, _, _ := p.Leaf(clientCA, "Witboost Coordinator (prod)", testsupport.LeafOptions{Usage: x509.ExtKeyUsageClientAuth,
		DNSNames: []string{"coordinator.witboost.example.com"}})
	other, _, _ := p.Leaf(clientCA, "test-runner", testsupport.LeafOptions{Usage: x509.ExtKeyUsageClientAuth, DNSNames: []string{"runner.example.com"}})

	addr, logs := runAPI(t, func(c *APIConfig) {
		c.TLSCertFile, c.TLSKeyFile, c.TLSClientCAFile = serverCert, serverKey, clientCA.File
		c.TLSClientAllowedNames = " witboost-coordinator, coordinator.witboost.example.com ,"
	})
	url := "https://" + addr + "/v1/provision"
	tests := []struct {
		name   string
		cert   tls.Certificate
		status int
	}{
		{"a certificate whose common name is allowed is accepted", byName, authorised},
		{"a certificate with an allowed DNS name is accepted", bySAN, authorised},
		{"another certificate of the same CA is refused with 403", other, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := provisionOver(t, httpsClient(pool(serverCA), tt.cert), url)
			require.Equal(t, tt.status, a.status)
			if tt.status == http.StatusForbidden {
				assert.Equal(t, `the client certificate's identity is not allowed: common name "test-runner", DNS names "runner.example.com"`, a.body.Error)
				assert.Contains(t, a.body.MoreInfo.Solutions[0], "TLS_CLIENT_ALLOWED_NAMES")
			}
		})
	}
	t.Run("no certificate is still a 401", func(t *testing.T) {
		assert.Equal(t, http.StatusUnauthorized, provisionOver(t, httpsClient(pool(serverCA)), url).status)
	})
	t.Run("the refusal is logged with the certificate's names", func(t *testing.T) {
		assert.Contains(t, logs.String(), `client certificate identity not allowed: common name \"test-runner\"`)
		assert.Contains(t, logs.String(), `"clientNamesPinned":2`)
		assert.NotContains(t, logs.String(), "BEGIN CERTIFICATE")
	})
}

func TestClientCAFileThatVanishesFailsClosed(t *testing.T) {
	p := testsupport.NewPKI(t)
	serverCA, clientCA := p.CA("server-ca"), p.CA("client-ca")
	_, serverCert, serverKey := p.Leaf(serverCA, "api", testsupport.LeafOptions{Usage: x509.ExtKeyUsageServerAuth})
	coordinator, _, _ := p.Leaf(clientCA, "coordinator", testsupport.LeafOptions{Usage: x509.ExtKeyUsageClientAuth})
	caFile := filepath.Join(p.Dir, "client-ca-bundle.pem")
	copyFile(t, p, clientCA.File, caFile)

	addr, logs := runAPI(t, func(c *APIConfig) {
		c.TLSCertFile, c.TLSKeyFile, c.TLSClientCAFile = serverCert, serverKey, caFile
	})
	url := "https://" + addr + "/v1/provision"
	// A Coordinator that keeps its connection open, verified while the CA was there.
	keepAlive := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool(serverCA), Certificates: []tls.Certificate{coordinator}, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
	}}
	require.Equal(t, authorised, provisionOver(t, keepAlive, url).status)

	require.NoError(t, os.Remove(caFile)) // the ConfigMap is deleted, or its key renamed
	refusedForTheCA := func(t *testing.T, a answer) {
		t.Helper()
		require.Equal(t, http.StatusUnauthorized, a.status)
		assert.Contains(t, a.body.Error, "no usable client CA")
		assert.Contains(t, a.body.MoreInfo.Solutions[0], "TLS_CLIENT_CA_FILE")
	}
	t.Run("a connection verified before the CA vanished is refused", func(t *testing.T) {
		a := provisionOver(t, keepAlive, url)
		require.True(t, a.reused, "the call must go over the connection opened while the CA was there")
		refusedForTheCA(t, a)
	})
	t.Run("a new connection presenting the certificate is refused", func(t *testing.T) {
		refusedForTheCA(t, provisionOver(t, httpsClient(pool(serverCA), coordinator), url))
		refusedForTheCA(t, provisionOver(t, forcingClient(pool(serverCA), coordinator), url))
	})
	t.Run("health stays open", func(t *testing.T) {
		resp, err := get(httpsClient(pool(serverCA)), "https://"+addr+"/health")
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	})
	t.Run("a bundle without a certificate fails closed too", func(t *testing.T) {
		p.Write(caFile, []byte("not a certificate"))
		refusedForTheCA(t, provisionOver(t, httpsClient(pool(serverCA), coordinator), url))
	})
	t.Run("each problem is logged once, naming the file", func(t *testing.T) {
		l := logs.String()
		assert.Equal(t, 2, strings.Count(l, "TLS_CLIENT_CA_FILE unusable"), l)
		assert.Contains(t, l, "TLS_CLIENT_CA_FILE: "+caFile)
		assert.Contains(t, l, "holds no PEM certificate")
	})
	t.Run("the CA back, calls are accepted again", func(t *testing.T) {
		copyFile(t, p, clientCA.File, caFile)
		assert.Equal(t, authorised, provisionOver(t, httpsClient(pool(serverCA), coordinator), url).status)
		assert.Equal(t, authorised, provisionOver(t, keepAlive, url).status)
		assert.Contains(t, logs.String(), "TLS files reloaded: client CA")
	})
}

func TestAPIWithoutAccessControlWarnsAtStart(t *testing.T) {
	p := testsupport.NewPKI(t)
	serverCA, clientCA := p.CA("server-ca"), p.CA("client-ca")
	_, serverCert, serverKey := p.Leaf(serverCA, "api", testsupport.LeafOptions{Usage: x509.ExtKeyUsageServerAuth})
	tokenFile := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(testToken), 0o600))
	tests := []struct {
		name   string
		change func(*APIConfig)
		https  bool
		warned bool
	}{
		{"neither a token nor a client CA", func(*APIConfig) {}, false, true},
		{"HTTPS without a client CA", func(c *APIConfig) { c.TLSCertFile, c.TLSKeyFile = serverCert, serverKey }, true, true},
		{"a bearer token", func(c *APIConfig) { c.AuthTokenFile = tokenFile }, false, false},
		{"mutual TLS", func(c *APIConfig) {
			c.TLSCertFile, c.TLSKeyFile, c.TLSClientCAFile = serverCert, serverKey, clientCA.File
		}, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, logs := runAPI(t, tt.change)
			// An answer means the start-up, and its warnings, are over.
			scheme, c := "http", &http.Client{Timeout: 10 * time.Second}
			if tt.https {
				scheme, c = "https", httpsClient(pool(serverCA))
			}
			resp, err := get(c, scheme+"://"+addr+"/health")
			require.NoError(t, err)
			require.Equal(t, http.StatusOK, resp.StatusCode)

			var warning map[string]any
			for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
				if strings.Contains(l, "no access control") {
					require.NoError(t, json.Unmarshal([]byte(l), &warning))
				}
			}
			if !tt.warned {
				assert.Nil(t, warning, logs.String())
				return
			}
			require.NotNil(t, warning, logs.String())
			assert.Equal(t, "WARN", warning["level"])
			for _, setting := range []string{"AUTH_TOKEN_FILE", "TLS_CLIENT_CA_FILE"} {
				assert.Contains(t, warning["msg"], setting)
			}
		})
	}
}
