package e2e_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/internal/app"
	"github.com/witboost-community/cde-spark-provisioner/internal/testsupport"
)

// TestProvisionThroughMutualTLS runs a worker and the API against Temporal behind a proxy that
// terminates TLS and requires a client certificate, both configured like a deployment: with
// Temporal's TEMPORAL_TLS_* variables naming files.
func TestProvisionThroughMutualTLS(t *testing.T) {
	pki := testsupport.NewPKI(t)
	serverCA, clientCA := pki.CA("temporal-ca"), pki.CA("client-ca")
	server, _, _ := pki.Leaf(serverCA, "temporal", testsupport.LeafOptions{Usage: x509.ExtKeyUsageServerAuth, DNSNames: []string{"temporal.e2e.test"}})
	proxy := startMTLSProxy(t, server, clientCA, st.temporalAddr)
	caFile := serverCA.File
	_, certFile, keyFile := pki.Leaf(clientCA, "e2e-mtls-client", testsupport.LeafOptions{Usage: x509.ExtKeyUsageClientAuth})
	env := app.TemporalEnv{
		"TEMPORAL_ADDRESS":                 proxy.addr,
		"TEMPORAL_NAMESPACE":               "default",
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH": caFile,
		"TEMPORAL_TLS_SERVER_NAME":         "temporal.e2e.test",
		"TEMPORAL_TLS_CLIENT_CERT_PATH":    certFile,
		"TEMPORAL_TLS_CLIENT_KEY_PATH":     keyFile,
	}
	temporal := app.TemporalConfig{TaskQueue: "e2e-mtls", SearchAttributes: true, Env: env}
	logger := app.NewLogger(app.LogConfig{Level: "debug"}, st.logs)
	ctx, cancel := context.WithCancel(context.Background())
	var running sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		running.Wait()
	})

	// The worker, on a task queue of its own: only it can run what the API below starts.
	workerCfg := st.workerCf
	workerCfg.Temporal = temporal
	wc, err := app.DialTemporalWith(ctx, workerCfg.Temporal, logger, 30*time.Second, st.tel)
	require.NoError(t, err)
	running.Go(func() {
		defer wc.Close()
		assert.NoError(t, app.RunWorker(ctx, workerCfg, wc, st.acts, logger))
	})

	// The API, as cmd/api runs it.
	apiCfg := app.APIConfig{
		Temporal:        temporal,
		SyncTimeout:     45 * time.Second,
		DedupeWindow:    time.Minute,
		MaxRequestBytes: api.DefaultMaxBodyBytes,
		ShutdownTimeout: 5 * time.Second,
	}
	ac, err := app.DialTemporalWith(ctx, apiCfg.Temporal, logger, 30*time.Second, st.tel)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	running.Go(func() {
		defer ac.Close()
		assert.NoError(t, app.RunAPIWith(ctx, apiCfg, ac, ln, logger, st.tel))
	})
	base := "http://" + ln.Addr().String()
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 30*time.Second, 50*time.Millisecond)

	name := unique("mtls")
	a := call(t, http.MethodPost, base+"/v1/provision", request(sparkJar(t, name)))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	var status map[string]any
	a.decode(t, &status)
	assert.Equal(t, "COMPLETED", status["status"])
	_, err = st.sim.Job(vcID(t), jobName(name))
	assert.NoError(t, err, "the job is in the virtual cluster")
	assert.Contains(t, proxy.clients(), "e2e-mtls-client", "Temporal was reached through the proxy, with the client certificate")

	t.Run("without a client certificate the dial fails at once, naming the setting", func(t *testing.T) {
		noCert := app.TemporalEnv{}
		for k, v := range env {
			noCert[k] = v
		}
		delete(noCert, "TEMPORAL_TLS_CLIENT_CERT_PATH")
		delete(noCert, "TEMPORAL_TLS_CLIENT_KEY_PATH")
		start := time.Now()
		c, err := app.DialTemporalWith(ctx, app.TemporalConfig{Env: noCert}, logger, 30*time.Second, nil)
		if c != nil {
			c.Close()
		}
		require.Error(t, err)
		assert.Less(t, time.Since(start), 10*time.Second, "not after the retry wait")
		assert.Contains(t, err.Error(), "TEMPORAL_TLS_CLIENT_CERT_PATH")
		t.Log(err)
	})
}

// mtlsProxy terminates TLS in front of the plain-text dev server, as a load balancer or a mesh
// does in front of a secured cluster: a client certificate of the client CA is required, and
// HTTP/2 is announced, as gRPC requires.
type mtlsProxy struct {
	addr string

	mu    sync.Mutex
	conns map[net.Conn]bool
	names []string // common names of the client certificates presented
}

func startMTLSProxy(t *testing.T, pair tls.Certificate, clientCA testsupport.Issuer, backend string) *mtlsProxy {
	t.Helper()
	roots := x509.NewCertPool()
	roots.AddCert(clientCA.Cert)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    roots,
		NextProtos:   []string{"h2"},
		MinVersion:   tls.VersionTLS12,
	})
	require.NoError(t, err)
	p := &mtlsProxy{addr: ln.Addr().String(), conns: map[net.Conn]bool{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { p.serve(conn.(*tls.Conn), backend) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.conns = nil
		p.mu.Unlock()
		wg.Wait()
	})
	return p
}

func (p *mtlsProxy) serve(conn *tls.Conn, backend string) {
	defer conn.Close()
	if !p.track(conn) {
		return
	}
	defer p.untrack(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err := conn.HandshakeContext(ctx)
	cancel()
	if err != nil {
		return // the client is refused: no certificate, or not one of the client CA
	}
	p.mu.Lock()
	p.names = append(p.names, conn.ConnectionState().PeerCertificates[0].Subject.CommonName)
	p.mu.Unlock()
	up, err := net.Dial("tcp", backend)
	if err != nil {
		return
	}
	if !p.track(up) {
		up.Close()
		return
	}
	defer p.untrack(up)
	defer up.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		// Either side closing ends the pair.
		dst.Close()
		src.Close()
		done <- struct{}{}
	}
	go pipe(up, conn)
	go pipe(conn, up)
	<-done
	<-done
}

// track registers a connection for the cleanup to close; false once the proxy is closed.
func (p *mtlsProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		return false
	}
	p.conns[c] = true
	return true
}

func (p *mtlsProxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *mtlsProxy) clients() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.names...)
}
