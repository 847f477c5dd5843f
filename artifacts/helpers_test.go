package artifacts_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// Test credentials: throw-away values, asserted never to appear in an error.
const (
	testAccessKeyID = "AKIDARTIFACTSTEST01"
	testSecretKey   = "artifacts-test-secret-key-never-in-errors"
	testBucket      = "artifacts"
)

// fakeS3 is gofakes3 with an in-memory backend, served over HTTP on 127.0.0.1, optionally
// behind a middleware that injects faults or observes requests.
type fakeS3 struct {
	backend *s3mem.Backend
	server  *httptest.Server
}

func newFakeS3(t *testing.T, middleware ...func(http.Handler) http.Handler) *fakeS3 {
	t.Helper()
	backend := s3mem.New()
	require.NoError(t, backend.CreateBucket(testBucket))
	var h http.Handler = gofakes3.New(backend).Server()
	for i := len(middleware) - 1; i >= 0; i-- {
		h = middleware[i](h)
	}
	srv := httptest.NewServer(h) // listens on 127.0.0.1 only
	t.Cleanup(srv.Close)
	return &fakeS3{backend: backend, server: srv}
}

// put stores data the way gofakes3 stores an upload that carried x-amz-checksum-sha256:
// the header is kept as metadata and sent back on HEAD and GET, as S3 does.
func (f *fakeS3) put(t *testing.T, key string, data []byte) descriptor.S3Location {
	t.Helper()
	sum := sha256.Sum256(data)
	f.putStream(t, key, bytes.NewReader(data), int64(len(data)), base64.StdEncoding.EncodeToString(sum[:]))
	return descriptor.S3Location{Bucket: testBucket, Key: key}
}

// putStream stores size bytes from r; checksum is the base64 SHA-256 to declare, or "".
func (f *fakeS3) putStream(t *testing.T, key string, r io.Reader, size int64, checksum string) {
	t.Helper()
	meta := map[string]string{
		"Last-Modified": time.Now().UTC().Format(http.TimeFormat),
		"Content-Type":  "application/octet-stream",
	}
	if checksum != "" {
		meta["X-Amz-Checksum-Sha256"] = checksum
	}
	_, err := f.backend.PutObject(testBucket, key, meta, r, size, nil)
	require.NoError(t, err)
}

// isolateAWSEnv keeps the developer's or CI's AWS settings (profiles, keys, regions,
// endpoints, instance metadata) out of the test.
func isolateAWSEnv(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, v := range []string{
		"AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
		"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
		"AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_REQUEST_CHECKSUM_CALCULATION",
		"AWS_RESPONSE_CHECKSUM_VALIDATION", "AWS_CA_BUNDLE",
	} {
		t.Setenv(v, "")
	}
}

// newStore is a Store on f with test credentials and path-style addressing, as an
// S3-compatible store needs; extra options come last so they win.
func newStore(t *testing.T, f *fakeS3, opts ...artifacts.Option) *artifacts.Store {
	t.Helper()
	isolateAWSEnv(t)
	all := append([]artifacts.Option{
		artifacts.WithEndpoint(f.server.URL),
		artifacts.WithStaticCredentials(testAccessKeyID, testSecretKey, ""),
	}, opts...)
	s, err := artifacts.New(t.Context(), artifacts.Config{UsePathStyle: true}, all...)
	require.NoError(t, err)
	return s
}

func loc(key string) descriptor.S3Location {
	return descriptor.S3Location{Bucket: testBucket, Key: key}
}

func etagOf(data []byte) string {
	sum := md5.Sum(data)
	return `"` + hex.EncodeToString(sum[:]) + `"`
}

// s3Error writes an S3 error answer; HEAD answers carry no body, as on S3.
func s3Error(w http.ResponseWriter, r *http.Request, status int, code, message string, header map[string]string) {
	for k, v := range header {
		w.Header().Set(k, v)
	}
	w.Header().Set("X-Amz-Request-Id", "REQ-"+code)
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+
		`<Error><Code>%s</Code><Message>%s</Message><RequestId>REQ-%s</RequestId><HostId>host-id</HostId></Error>`,
		code, message, code)
}

// bucketKey splits a path-style request path into bucket and key.
func bucketKey(r *http.Request) (string, string) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	return bucket, key
}

// heldRequests holds every request until the test releases it, and tells how many it holds.
// Channels and sync.Cond only, so that a held request counts as blocked for synctest.Wait.
type heldRequests struct {
	mu      sync.Mutex
	held    int
	release chan struct{} // closed to let the requests held so far go
}

func newHeldRequests() *heldRequests { return &heldRequests{release: make(chan struct{})} }

func (h *heldRequests) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.held++
		release := h.release
		h.mu.Unlock()
		<-release
		next.ServeHTTP(w, r)
	})
}

func (h *heldRequests) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.held
}

func (h *heldRequests) releaseAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.release)
	h.release = make(chan struct{})
	h.held = 0
}

// pipeNetwork is an in-memory network for one HTTP server: dial makes a net.Pipe and hands
// its other end to Accept.
type pipeNetwork struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newPipeNetwork() *pipeNetwork {
	return &pipeNetwork{conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (p *pipeNetwork) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case p.conns <- server:
		return client, nil
	case <-p.closed:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pipeNetwork) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.closed:
		return nil, net.ErrClosed
	}
}

func (p *pipeNetwork) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

func (p *pipeNetwork) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "s3.pipe" }

// counted is a middleware counting requests, for tests that check how often the SDK retried.
type counted struct {
	mu sync.Mutex
	n  int
}

func (c *counted) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (c *counted) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// bytesWritten counts the body bytes the server has handed to the connection.
type bytesWritten struct {
	mu sync.Mutex
	n  int64
}

func (b *bytesWritten) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&countingWriter{ResponseWriter: w, b: b}, r)
	})
}

func (b *bytesWritten) get() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.n
}

type countingWriter struct {
	http.ResponseWriter
	b *bytesWritten
}

func (w *countingWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.b.mu.Lock()
	w.b.n += int64(n)
	w.b.mu.Unlock()
	return n, err
}

// readAll reads an opened body to the end and closes it.
func readAll(t *testing.T, rc io.ReadCloser) []byte {
	t.Helper()
	defer rc.Close()
	data, err := io.ReadAll(rc)
	require.NoError(t, err)
	return data
}

func bytesReader(b []byte) io.Reader { return bytes.NewReader(b) }

func hexString(b []byte) string { return hex.EncodeToString(b) }
