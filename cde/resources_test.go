package cde

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

// patternReader yields n deterministic bytes generated on the fly. When
// gateAt > 0, reading past gateAt first calls gate, which may block or fail.
type patternReader struct {
	n, off int64
	gateAt int64
	gate   func() error
	gated  bool
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	if p.gateAt > 0 && !p.gated && p.off+int64(len(b)) > p.gateAt {
		if p.off < p.gateAt {
			b = b[:p.gateAt-p.off] // up to the gate first
		} else {
			if err := p.gate(); err != nil {
				return 0, err
			}
			p.gated = true
		}
	}
	b = b[:min(int64(len(b)), p.n-p.off)]
	for i := range b {
		x := uint64(p.off + int64(i))
		b[i] = byte((x * 0x9E3779B97F4A7C15) >> 56)
	}
	p.off += int64(len(b))
	return len(b), nil
}

func patternSum(n int64) [32]byte {
	h := sha256.New()
	_, _ = io.Copy(h, &patternReader{n: n})
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum
}

// uploadServer receives multipart uploads and reports what it got.
type uploadServer struct {
	t        *testing.T
	mu       sync.Mutex
	uploads  []receivedUpload
	sawFirst chan struct{} // closed when the first content byte arrives
	first    sync.Once
	refused  func(method, auth string) bool // answer 401
	broken   bool                           // uploads are expected to be cut short
	requests []string                       // "METHOD auth" of every request
}

type receivedUpload struct {
	path, partName, fileName, partType string
	contentLength                      int64
	chunked                            bool
	size                               int64
	sum                                [32]byte
	parts                              int
	auth                               string
}

func (u *uploadServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	u.mu.Lock()
	u.requests = append(u.requests, r.Method+" "+auth)
	u.mu.Unlock()
	if u.refused != nil && u.refused(r.Method, auth) {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if r.Method == http.MethodGet {
		_, _ = io.WriteString(w, `{"name":"r","type":"files"}`)
		return
	}
	got := receivedUpload{path: r.URL.EscapedPath(), contentLength: r.ContentLength, auth: r.Header.Get("Authorization")}
	got.chunked = len(r.TransferEncoding) > 0 && r.TransferEncoding[0] == "chunked"
	if r.Method != http.MethodPut {
		u.t.Errorf("method %s", r.Method)
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "multipart/form-data" {
		u.t.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
	}
	mr, err := r.MultipartReader()
	if err != nil {
		u.t.Errorf("multipart: %v", err)
		w.WriteHeader(400)
		return
	}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			if !u.broken {
				u.t.Errorf("next part: %v", err)
			}
			w.WriteHeader(400)
			return
		}
		got.parts++
		got.partName, got.fileName, got.partType = part.FormName(), part.FileName(), part.Header.Get("Content-Type")
		h := sha256.New()
		one := make([]byte, 1)
		n, err := io.ReadFull(part, one)
		h.Write(one[:n])
		if n == 1 && u.sawFirst != nil {
			u.first.Do(func() { close(u.sawFirst) })
		}
		if err == nil {
			var rest int64
			rest, err = io.Copy(h, part)
			n += int(rest)
		}
		if err != nil && err != io.EOF && !u.broken {
			u.t.Errorf("reading part: %v", err)
		}
		got.size = int64(n)
		copy(got.sum[:], h.Sum(nil))
	}
	u.mu.Lock()
	u.uploads = append(u.uploads, got)
	u.mu.Unlock()
	w.WriteHeader(http.StatusCreated)
}

func (u *uploadServer) received() []receivedUpload {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]receivedUpload(nil), u.uploads...)
}

func startUploadServer(t *testing.T, tokens TokenSource) (*uploadServer, *JobsClient) {
	t.Helper()
	u := &uploadServer{t: t, sawFirst: make(chan struct{})}
	srv := httptest.NewTLSServer(u)
	t.Cleanup(srv.Close)
	return u, newTestJobsClient(t, srv, tokens)
}

// The client must stream: it may not read more than 1 MiB of a 64 MiB
// content before the server has received the first content byte. A client
// that buffered the body would trip the gate (after a generous minute)
// instead of hanging the test.
func TestUploadFileStreamsLargeContent(t *testing.T) {
	const size = 64 << 20
	for _, tt := range []struct {
		name     string
		size     int64
		wantLen  bool
		fileName string
	}{
		{"known size is sent with a Content-Length", size, true, "app.jar"},
		{"unknown size is sent chunked", -1, false, "lib/nested dir/job.py"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, c := startUploadServer(t, StaticTokenSource("tok"))
			content := &patternReader{n: size, gateAt: 1 << 20, gate: func() error {
				select {
				case <-u.sawFirst:
					return nil
				case <-time.After(time.Minute):
					return errors.New("client read 1 MiB before the server received any content: it is buffering")
				}
			}}
			if err := c.UploadFile(context.Background(), "mainres-1", tt.fileName, content, tt.size); err != nil {
				t.Fatal(err)
			}
			got := u.received()
			if len(got) != 1 {
				t.Fatalf("%d uploads", len(got))
			}
			r := got[0]
			wantPath := "/dex/api/v1/resources/mainres-1/" + strings.ReplaceAll(tt.fileName, " ", "%20")
			wantType := "text/plain"
			if strings.HasSuffix(tt.fileName, ".jar") {
				wantType = "application/java-archive"
			}
			base := tt.fileName[strings.LastIndex(tt.fileName, "/")+1:]
			if r.path != wantPath || r.parts != 1 || r.partName != "file" || r.fileName != base || r.partType != wantType || r.auth != "Bearer tok" {
				t.Errorf("upload = %+v", r)
			}
			if r.size != size || r.sum != patternSum(size) {
				t.Errorf("server received %d bytes with another content", r.size)
			}
			if tt.wantLen && r.contentLength <= size {
				t.Errorf("Content-Length = %d", r.contentLength)
			}
			if !tt.wantLen && !r.chunked {
				t.Errorf("unknown size not chunked: Content-Length %d", r.contentLength)
			}
		})
	}
}

// recordingTokens hands out tok-1, tok-2, … and records invalidations.
type recordingTokens struct {
	mu          sync.Mutex
	n           int
	invalidated []string
}

func (r *recordingTokens) Token(context.Context) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return fmt.Sprintf("tok-%d", r.n+1), nil
}

func (r *recordingTokens) Invalidate(tok string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.invalidated = append(r.invalidated, tok)
	r.n++
}

func TestUploadFileAfter401(t *testing.T) {
	payload := bytes.Repeat([]byte("spark"), 100_000)
	seekable := func() io.Reader {
		r := bytes.NewReader(append([]byte("skipped-prefix"), payload...))
		_, _ = r.Seek(int64(len("skipped-prefix")), io.SeekStart) // uploads from the current position
		return r
	}
	plain := func() io.Reader { return io.MultiReader(bytes.NewReader(payload)) }
	staleFirst := func(_, auth string) bool { return auth == "Bearer tok-1" }
	tests := []struct {
		name         string
		content      func() io.Reader
		refused      func(method, auth string) bool
		wantErr      error
		wantRequests []string
		wantUpload   bool
	}{
		{"seekable content is rewound and resent with a fresh token", seekable, staleFirst, nil,
			[]string{"PUT Bearer tok-1", "PUT Bearer tok-2"}, true},
		{"a plain reader waits for a token proven by a GET", plain, staleFirst, nil,
			[]string{"GET Bearer tok-1", "GET Bearer tok-2", "PUT Bearer tok-2"}, true},
		{"a plain reader is not read when no token is accepted", plain, func(string, string) bool { return true }, ErrUnauthorized,
			[]string{"GET Bearer tok-1", "GET Bearer tok-2"}, false},
		{"seekable content refused twice gives up", seekable, func(string, string) bool { return true }, ErrUnauthorized,
			[]string{"PUT Bearer tok-1", "PUT Bearer tok-2"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tokens := &recordingTokens{}
			u, c := startUploadServer(t, tokens)
			u.refused = tt.refused
			content := tt.content()
			err := c.UploadFile(context.Background(), "r", "a.py", content, int64(len(payload)))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			u.mu.Lock()
			assertEqual(t, "requests", u.requests, tt.wantRequests)
			u.mu.Unlock()
			if tt.wantErr != nil && IsTransient(err) {
				t.Error("a refused token must not be transient")
			}
			got := u.received()
			if !tt.wantUpload {
				if len(got) != 0 {
					t.Errorf("uploads = %+v", got)
				}
				if _, ok := content.(io.Seeker); !ok {
					if rest, _ := io.ReadAll(content); len(rest) != len(payload) {
						t.Errorf("%d bytes of the plain reader were consumed", len(payload)-len(rest))
					}
				}
				return
			}
			if len(got) != 1 || got[0].size != int64(len(payload)) || got[0].sum != sha256.Sum256(payload) {
				t.Errorf("uploads = %+v", got)
			}
		})
	}
}

type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(b []byte) (int, error) {
	if f.n <= 0 {
		return 0, f.err
	}
	n := min(len(b), f.n)
	clear(b[:n])
	f.n -= n
	return n, nil
}

func TestUploadFileReportsContentErrors(t *testing.T) {
	u, c := startUploadServer(t, StaticTokenSource("t"))
	u.broken = true
	// A source stream cut short (an S3 body, say) is transient.
	err := c.UploadFile(context.Background(), "r", "a.jar", &failingReader{n: 100_000, err: io.ErrUnexpectedEOF}, 200_000)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !IsTransient(err) {
		t.Errorf("cut stream: %v (transient %v)", err, IsTransient(err))
	}
	// Fewer bytes than announced is an error, not a silently short file.
	err = c.UploadFile(context.Background(), "r", "a.jar", strings.NewReader("short"), 10)
	if err == nil {
		t.Error("short content with a larger size: want an error")
	}
}

func TestMultipartFramingIsExactlyOnePart(t *testing.T) {
	head, tail, ct, err := multipartFraming(`we"ird.jar`, "application/java-archive")
	if err != nil {
		t.Fatal(err)
	}
	_, params, _ := mime.ParseMediaType(ct)
	b := params["boundary"]
	wantHead := "--" + b + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"we\\\"ird.jar\"\r\nContent-Type: application/java-archive\r\n\r\n"
	if string(head) != wantHead || string(tail) != "\r\n--"+b+"--\r\n" {
		t.Errorf("head %q\ntail %q", head, tail)
	}
}

// countingTransport counts the requests it carries.
type countingTransport struct {
	http.RoundTripper
	mu sync.Mutex
	n  map[string]int // by method
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[r.Method]++
	c.mu.Unlock()
	return c.RoundTripper.RoundTrip(r)
}

// WithTransferClient carries the uploads (and only them); its Timeout does not bound them.
func TestUploadsGoThroughTheTransferClient(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusCreated)
			return
		}
		_, _ = io.WriteString(w, `{"name":"r","type":"files"}`)
	}))
	t.Cleanup(srv.Close)
	api := &countingTransport{RoundTripper: srv.Client().Transport}
	uploads := &countingTransport{RoundTripper: srv.Client().Transport}
	c, err := NewJobsClient(srv.URL+"/dex/api/v1", StaticTokenSource("t"), &http.Client{Transport: api},
		WithTransferClient(&http.Client{Transport: uploads, Timeout: time.Nanosecond}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetResource(context.Background(), "r"); err != nil {
		t.Fatal(err)
	}
	if err := c.UploadFile(context.Background(), "r", "a.jar", bytes.NewReader([]byte("jar")), 3); err != nil {
		t.Fatalf("upload (the transfer client's Timeout must not apply): %v", err)
	}
	if api.n[http.MethodGet] != 1 || api.n[http.MethodPut] != 0 || uploads.n[http.MethodPut] != 1 || uploads.n[http.MethodGet] != 0 {
		t.Errorf("API transport carried %v, uploads transport %v", api.n, uploads.n)
	}
}

// startDownloadServer serves GET /dex/api/v1/resources/r/{file} with h and
// returns a client that retries at once (no real sleeps).
func startDownloadServer(t *testing.T, h http.HandlerFunc) *JobsClient {
	t.Helper()
	srv := httptest.NewTLSServer(h)
	t.Cleanup(srv.Close)
	c, err := NewJobsClient(srv.URL+"/dex/api/v1", StaticTokenSource("tok"), srv.Client(),
		WithRetryPolicy(RetryPolicy{Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// OpenResourceFile must stream: it returns while the server has sent no
// more than 8 MiB of a 256 MiB file, the rest held back until the caller has
// the body. A client that read the body whole before returning would trip the
// gate (after a generous minute) instead of hanging the test.
func TestOpenResourceFileStreamsLargeFiles(t *testing.T) {
	const size = 256 << 20
	opened := make(chan struct{})
	var sent *patternReader
	c := startDownloadServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.EscapedPath() != "/dex/api/v1/resources/r/lib/nested%20dir/app.jar" ||
			r.Header.Get("Accept") != "application/octet-stream" || r.Header.Get("Authorization") != "Bearer tok" {
			t.Errorf("request %s %s Accept %q", r.Method, r.URL.EscapedPath(), r.Header.Get("Accept"))
		}
		sent = &patternReader{n: size, gateAt: 8 << 20, gate: func() error {
			select {
			case <-opened:
				return nil
			case <-time.After(time.Minute):
				return errors.New("the client did not return before reading 8 MiB: it is buffering")
			}
		}}
		w.Header().Set("Content-Length", fmt.Sprint(size))
		_, _ = io.Copy(w, sent)
	})
	body, n, err := c.OpenResourceFile(context.Background(), "r", "lib/nested dir/app.jar")
	if err != nil {
		t.Fatal(err)
	}
	close(opened)
	defer body.Close()
	if n != size {
		t.Errorf("size %d, want %d", n, size)
	}
	h := sha256.New()
	got, err := io.Copy(h, body)
	if err != nil {
		t.Fatal(err)
	}
	if got != size || [32]byte(h.Sum(nil)) != patternSum(size) {
		t.Errorf("read %d bytes with another content", got)
	}
}

func TestOpenResourceFileRetriesTheRequestNotTheBody(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	c := startDownloadServer(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		switch {
		case r.URL.Path == "/dex/api/v1/resources/r/missing.jar":
			http.Error(w, `{"message":"file not found"}`, http.StatusNotFound)
		case r.URL.Path == "/dex/api/v1/resources/r/busy.jar" && n == 1:
			http.Error(w, "scaling", http.StatusServiceUnavailable)
		case r.URL.Path == "/dex/api/v1/resources/r/cut.jar":
			// Announces 1000 bytes, sends 500, then drops the connection.
			w.Header().Set("Content-Length", "1000")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(make([]byte, 500))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		case r.URL.Path == "/dex/api/v1/resources/r/chunked.txt":
			w.(http.Flusher).Flush() // no Content-Length
			_, _ = io.WriteString(w, "no length")
		default:
			_, _ = io.WriteString(w, "content")
		}
	})
	ctx := context.Background()
	read := func(t *testing.T, file string) (string, int64, error) {
		t.Helper()
		body, n, err := c.OpenResourceFile(ctx, "r", file)
		if err != nil {
			return "", 0, err
		}
		defer body.Close()
		b, err := io.ReadAll(body)
		return string(b), n, err
	}
	t.Run("a 503 at open is retried", func(t *testing.T) {
		got, n, err := read(t, "busy.jar")
		if err != nil || got != "content" || n != 7 {
			t.Fatalf("got %q (%d), %v", got, n, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if calls != 2 {
			t.Errorf("%d requests, want 2", calls)
		}
	})
	t.Run("a missing file is ErrNotFound", func(t *testing.T) {
		if _, _, err := read(t, "missing.jar"); !errors.Is(err, ErrNotFound) || IsTransient(err) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("a body cut mid-stream fails the read with a transient error", func(t *testing.T) {
		mu.Lock()
		before := calls
		mu.Unlock()
		_, n, err := read(t, "cut.jar")
		if n != 1000 || !errors.Is(err, io.ErrUnexpectedEOF) || !IsTransient(err) || !strings.Contains(err.Error(), "openResourceFile") {
			t.Fatalf("size %d, err = %v: want 1000 and a transient unexpected EOF naming the call", n, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if calls != before+1 {
			t.Errorf("a cut body was requested again (%d requests): reopening is the caller's", calls-before)
		}
	})
	t.Run("a body without Content-Length has size -1", func(t *testing.T) {
		got, n, err := read(t, "chunked.txt")
		if err != nil || got != "no length" || n != -1 {
			t.Fatalf("got %q (%d), %v", got, n, err)
		}
	})
	t.Run("a bad path is refused before any request", func(t *testing.T) {
		if _, _, err := c.OpenResourceFile(ctx, "r", "../x"); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestOpenResourceFileAfter401(t *testing.T) {
	tokens := &recordingTokens{}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer tok-1" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	c := newTestJobsClient(t, srv, tokens)
	body, _, err := c.OpenResourceFile(context.Background(), "r", "a.py")
	if err != nil {
		t.Fatal(err)
	}
	defer body.Close()
	if b, _ := io.ReadAll(body); string(b) != "ok" {
		t.Errorf("body %q", b)
	}
	assertEqual(t, "invalidated", tokens.invalidated, []string{"tok-1"})
}

// Against the simulator: what GetResource lists is what OpenResourceFile
// reads back, and a file the simulator kept only as a digest is a clear,
// permanent error rather than wrong bytes.
func TestOpenResourceFileFromTheSimulator(t *testing.T) {
	sim := cdesim.StartForTest(t, cdesim.DemoSeed(), cdesim.Options{DigestOnlyUploads: true, KeepUploadsUpTo: 1 << 20})
	vc, ok := sim.VC(cdesim.DemoService, cdesim.DemoVC)
	if !ok {
		t.Fatal("no demo VC")
	}
	tok, err := sim.IssueToken(vc.ClusterID, cdesim.DemoUser)
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewJobsClient(vc.APIURL, StaticTokenSource(tok), sim.Client(), WithRetryPolicy(NoRetry))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.CreateResource(ctx, CreateResourceRequest{Name: "r", Type: ResourceTypeFiles}); err != nil {
		t.Fatal(err)
	}
	small := bytes.Repeat([]byte("spark "), 1000)
	if err := c.UploadFile(ctx, "r", "lib/job.py", bytes.NewReader(small), int64(len(small))); err != nil {
		t.Fatal(err)
	}
	if err := c.UploadFile(ctx, "r", "big.jar", &patternReader{n: 2 << 20}, 2<<20); err != nil {
		t.Fatal(err)
	}
	res, err := c.GetResource(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) != 2 || res.Signature == "" {
		t.Fatalf("resource %+v", res)
	}
	for _, f := range res.Files {
		if f.Path == "" || f.SizeBytes <= 0 || f.Signature == "" {
			t.Errorf("file %+v lacks what an import needs", f)
		}
	}
	body, n, err := c.OpenResourceFile(ctx, "r", "lib/job.py")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(body)
	body.Close()
	if err != nil || !bytes.Equal(got, small) || n != res.Files[1].SizeBytes {
		t.Errorf("read %d bytes (size %d, listed %+v): %v", len(got), n, res.Files[1], err)
	}
	_, _, err = c.OpenResourceFile(ctx, "r", "big.jar")
	apiErr, ok := errors.AsType[*APIError](err)
	if !ok || apiErr.Status != http.StatusGone || IsTransient(err) || !strings.Contains(err.Error(), "DigestOnlyUploads") {
		t.Errorf("digest-only file: %v", err)
	}
	if _, _, err := c.OpenResourceFile(ctx, "missing", "a.py"); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing resource: %v", err)
	}
}

// A python-env's version and mirror (witboost's pyPiMirror inside pythonEnv,
// a name UNCONFIRMED) are decoded, and the file list's sizes and signatures.
func TestResourceDecodesWhatAnImportNeeds(t *testing.T) {
	var res Resource
	doc := `{"name":"pyenvres-1","type":"python-env","status":"ready","signature":"6481",
		"files":[{"path":"requirements.txt","signature":"0326","sizeBytes":7}],
		"pythonEnv":{"pythonVersion":"python3","type":"python-env","pyPiMirror":"https://mirror.example/simple"},
		"somethingNew":{"x":1}}`
	if err := json.Unmarshal([]byte(doc), &res); err != nil {
		t.Fatal(err)
	}
	if res.PythonEnv == nil || res.PythonEnv.PythonVersion != "python3" || res.PythonEnv.PyPiMirror != "https://mirror.example/simple" {
		t.Errorf("pythonEnv %+v", res.PythonEnv)
	}
	if len(res.Files) != 1 || res.Files[0] != (ResourceFile{Path: "requirements.txt", Signature: "0326", SizeBytes: 7}) || res.Signature != "6481" {
		t.Errorf("resource %+v", res)
	}
}
