package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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
