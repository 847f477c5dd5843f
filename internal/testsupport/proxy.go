package testsupport

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
)

// Recorder is a reverse proxy on 127.0.0.1 in front of a server, that records the method and
// path of every request it passes on: tests use it to prove a request was never made.
type Recorder struct {
	URL  string // the proxy's base URL
	mu   sync.Mutex
	seen []string
}

// NewRecorder starts a Recorder in front of target (a base URL), closed with the test.
func NewRecorder(t testing.TB, target string) *Recorder {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatalf("recorder target %q: %v", target, err)
	}
	r := &Recorder{}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.mu.Lock()
		r.seen = append(r.seen, req.Method+" "+req.URL.Path)
		r.mu.Unlock()
		proxy.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// Seen returns the requests passed on so far, "METHOD /path", oldest first.
func (r *Recorder) Seen() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// Reset forgets the requests seen so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = nil
}
