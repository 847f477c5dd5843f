package s3local

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"
)

// The values Env gives the worker. The server checks no signature, so they are not secrets;
// they only have to be present for the AWS SDK to sign its requests.
const (
	Region          = "us-east-1"
	AccessKeyID     = "s3local-access-key"
	SecretAccessKey = "s3local-secret-key"
)

// Options configures Start.
type Options struct {
	// Addr is the listen address, "127.0.0.1:0" (a free port) when empty. Only 127.0.0.1 (or
	// "localhost") is accepted: the server has no authentication.
	Addr string
	// Buckets are created at start (existing ones are kept).
	Buckets []string
	// Dir holds the objects and their metadata. Empty: a new temporary directory, removed by
	// Close. A given directory is kept, so a restarted server still has its objects.
	Dir string
}

// Server is a running local S3 server.
type Server struct {
	url     string
	http    *http.Server
	client  *http.Client // for the seeding helpers: plain unsigned requests
	dir     string
	tempDir bool
	served  chan error
	backend fileBackend
	denials denials // see Deny

	closeOnce sync.Once
	closeErr  error
}

// Start listens on opts.Addr and serves S3 until Close; ctx bounds the start-up only.
func Start(ctx context.Context, opts Options) (*Server, error) {
	addr, err := loopbackAddr(opts.Addr)
	if err != nil {
		return nil, err
	}
	dir, tempDir := opts.Dir, false
	if dir == "" {
		if dir, err = os.MkdirTemp("", "s3local-"); err != nil {
			return nil, fmt.Errorf("s3local: %w", err)
		}
		tempDir = true
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("s3local: %w", err)
	}
	cleanup := func() {
		if tempDir {
			os.RemoveAll(dir)
		}
	}

	// The afero backend streams uploads to files and downloads from them; gofakes3's memory
	// backend would hold every object (and a whole upload before storing it) in the heap.
	files, err := s3afero.MultiBucket(afero.NewBasePathFs(afero.NewOsFs(), dir))
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("s3local: file backend in %s: %w", dir, err)
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp4", addr)
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("s3local: listen on %s: %w", addr, err)
	}
	backend := fileBackend{files}
	s := &Server{
		url:     "http://" + ln.Addr().String(),
		client:  &http.Client{Transport: &http.Transport{}},
		dir:     dir,
		tempDir: tempDir,
		served:  make(chan error, 1),
		backend: backend,
	}
	s.http = &http.Server{
		Handler:           s.guard(gofakes3.New(backend).Server()),
		ReadHeaderTimeout: 30 * time.Second,
		// No read or write timeout: a large artifact takes as long as it takes.
	}
	go func() { s.served <- s.http.Serve(ln) }()

	for _, b := range opts.Buckets {
		if err := s.CreateBucket(ctx, b); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// loopbackAddr refuses any address but 127.0.0.1, so that a developer's artifacts are never
// served to the network.
func loopbackAddr(addr string) (string, error) {
	if addr == "" {
		return "127.0.0.1:0", nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("s3local: address %q: %w", addr, err)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if host != "127.0.0.1" {
		return "", fmt.Errorf("s3local: address %q: the server listens on 127.0.0.1 only (it has no authentication)", addr)
	}
	return net.JoinHostPort(host, port), nil
}

// URL is the endpoint, e.g. http://127.0.0.1:39423 (path-style addressing).
func (s *Server) URL() string { return s.url }

// Dir is the directory holding the objects.
func (s *Server) Dir() string { return s.dir }

// Env is the environment that points a worker (artifacts.New and the AWS SDK) at this server.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_S3=" + s.url,
		"S3_USE_PATH_STYLE=true",
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=" + AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + SecretAccessKey,
	}
}

// Close stops the server, ending open connections, and removes its temporary directory.
// Calling it again returns the first result.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		err := s.http.Close()
		if serveErr := <-s.served; !errors.Is(serveErr, http.ErrServerClosed) {
			err = errors.Join(err, serveErr)
		}
		s.client.CloseIdleConnections()
		if s.tempDir {
			err = errors.Join(err, os.RemoveAll(s.dir))
		}
		if err != nil {
			s.closeErr = fmt.Errorf("s3local: close: %w", err)
		}
	})
	return s.closeErr
}

// CreateBucket creates a bucket; one that exists already is kept as it is.
func (s *Server) CreateBucket(ctx context.Context, bucket string) error {
	err := s.do(ctx, http.MethodPut, "/"+url.PathEscape(bucket), http.NoBody, 0)
	if e, ok := errors.AsType[*apiError](err); ok && (e.Code == "BucketAlreadyExists" || e.Code == "BucketAlreadyOwnedByYou") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("s3local: create bucket %q: %w", bucket, err)
	}
	return nil
}

// Put stores size bytes read from r as s3://bucket/key, streaming them to disk. It goes
// through the S3 API like any upload, so the object looks exactly like one a client put.
func (s *Server) Put(ctx context.Context, bucket, key string, r io.Reader, size int64) error {
	if size < 0 {
		return fmt.Errorf("s3local: put s3://%s/%s: negative size %d", bucket, key, size)
	}
	body := io.NopCloser(r) // the caller owns r
	if size == 0 {
		body = http.NoBody
	}
	if err := s.do(ctx, http.MethodPut, "/"+url.PathEscape(bucket)+"/"+escapeKey(key), body, size); err != nil {
		return fmt.Errorf("s3local: put s3://%s/%s: %w", bucket, key, err)
	}
	return nil
}

// escapeKey escapes each segment of the key but keeps its slashes, as S3 clients do.
func escapeKey(key string) string {
	segs := strings.Split(key, "/")
	for i, seg := range segs {
		segs[i] = url.PathEscape(seg)
	}
	return strings.Join(segs, "/")
}

// do sends an unsigned request (gofakes3 checks no signature) and turns an S3 error answer
// into an error quoting its code and message.
func (s *Server) do(ctx context.Context, method, path string, body io.ReadCloser, size int64) error {
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, body)
	if err != nil {
		return err
	}
	req.ContentLength = size
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		_, _ = io.Copy(io.Discard, resp.Body) // lets the connection be reused
		return nil
	}
	e := &apiError{Status: resp.StatusCode}
	_ = xml.NewDecoder(io.LimitReader(resp.Body, 16<<10)).Decode(e) // a bodiless answer keeps the status
	return e
}

// apiError is an S3 error answer of the server.
type apiError struct {
	Status  int    `xml:"-"`
	Code    string `xml:"Code"`
	Message string `xml:"Message"`
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		msg += " (" + e.Code + ")"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// fileBackend removes what an interrupted upload left. s3afero writes an upload straight into
// the object's file and records its metadata only at the end, so a canceled or short upload
// leaves a file without metadata, which v1.2.0 then answers with 500 on every HEAD and GET.
// S3 would keep no trace of a failed PUT; removing the partial file comes closest (an
// overwritten object is lost either way: the file was truncated when the upload began).
type fileBackend struct {
	*s3afero.MultiBucketBackend
}

// PutObject stores the upload, removing the object's file when reading the body failed.
func (b fileBackend) PutObject(bucket, key string, meta map[string]string, input io.Reader, size int64, conditions *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	in := &readFailure{r: input}
	res, err := b.MultiBucketBackend.PutObject(bucket, key, meta, in, size, conditions)
	if err != nil && in.failed {
		// Only when the body failed: an upload refused before it began (missing bucket,
		// unmet condition) must not delete the object already there.
		_, _ = b.MultiBucketBackend.DeleteObject(bucket, key)
	}
	return res, err
}

// readFailure remembers whether reading the upload body failed.
type readFailure struct {
	r      io.Reader
	failed bool
}

func (f *readFailure) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err != nil && err != io.EOF {
		f.failed = true
	}
	return n, err
}
