package cdesim

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Failure is an injected error response.
type Failure struct {
	// Status is the HTTP status; default 503.
	Status int
	// Body is sent verbatim; when empty the simulator writes the error body
	// of the host hit (CDP {"code","message"} or the VC API's {"message"}).
	Body string
	// ContentType of Body; default application/json.
	ContentType string
	// RetryAfter, when set, is sent as the Retry-After header (e.g. "2").
	RetryAfter string
	// Reset, when set, sends no answer at all: the connection is closed
	// with a TCP reset (hijacked, SO_LINGER 0), as a crashing proxy or a
	// load balancer dropping a backend does; the client sees "connection
	// reset by peer" (or EOF). Status and the other fields are ignored,
	// and the request log records status 0. Over HTTP/2 the whole
	// connection is reset, failing the other requests in flight on it too.
	Reset bool
}

// RequestRecord is one entry of the request log. It never holds secrets:
// no headers, no bodies.
type RequestRecord struct {
	Time time.Time // wall-clock start
	// Target names the host: "controlplane", "knox:<service name>" or
	// "vc:<vcId>".
	Target   string
	Host     string // 127.0.0.1:<port>
	Method   string
	Path     string
	Query    string
	Status   int
	Duration time.Duration // wall-clock, including injected latency
	// Fault is "fail", "reset", "latency", "blocked" (joined by "+") when
	// an injected fault applied. A reset request has Status 0.
	Fault string
	// Body is what the handler read of a control-plane request's body (its
	// JSON arguments, e.g. the clusterId of listVcs), at most
	// maxRecordedBody bytes; empty for the other targets, whose bodies are
	// job definitions and uploads.
	Body string
}

// maxRecordedBody bounds RequestRecord.Body.
const maxRecordedBody = 1 << 10

// bodyTap keeps the first maxRecordedBody bytes read from a request body.
type bodyTap struct {
	io.ReadCloser
	kept []byte
}

func (t *bodyTap) Read(p []byte) (int, error) {
	n, err := t.ReadCloser.Read(p)
	if room := maxRecordedBody - len(t.kept); room > 0 {
		t.kept = append(t.kept, p[:min(n, room)]...)
	}
	return n, err
}

// route is a parsed "[METHOD ]PATH" pattern: METHOD empty matches any; PATH
// is a path.Match glob ("*" does not cross "/"), and a trailing "/**"
// matches any (possibly empty) remainder.
type route struct {
	method, glob string
	prefix       bool
	raw          string
}

func parseRoute(p string) route {
	r := route{raw: p}
	if m, rest, ok := strings.Cut(p, " "); ok {
		r.method, p = strings.ToUpper(m), strings.TrimSpace(rest)
	}
	if strings.HasSuffix(p, "/**") {
		r.prefix, p = true, strings.TrimSuffix(p, "/**")
	}
	if _, err := path.Match(p, ""); err != nil || !strings.HasPrefix(p, "/") {
		panic(fmt.Sprintf("cdesim: bad route pattern %q: want \"[METHOD ]/path/glob\"", r.raw))
	}
	r.glob = p
	return r
}

func (r route) match(method, p string) bool {
	if r.method != "" && r.method != method {
		return false
	}
	if r.prefix {
		if ok, _ := path.Match(r.glob, p); ok {
			return true
		}
		// Try every prefix ending at a "/" boundary.
		for i := len(p) - 1; i > 0; i-- {
			if p[i] == '/' {
				if ok, _ := path.Match(r.glob, p[:i]); ok {
					return true
				}
			}
		}
		return false
	}
	ok, _ := path.Match(r.glob, p)
	return ok
}

type failRule struct {
	route route
	left  int
	f     Failure
	// perRoute rules (FailEachNext) count left for each distinct
	// "METHOD path" on their own, in used.
	perRoute bool
	used     map[string]int
}

// take says whether the rule fails a request of method and path, and
// counts it.
func (fr *failRule) take(method, p string) bool {
	if !fr.route.match(method, p) {
		return false
	}
	if fr.perRoute {
		key := method + " " + p
		if fr.used[key] >= fr.left {
			return false
		}
		fr.used[key]++
		return true
	}
	if fr.left == 0 {
		return false
	}
	if fr.left > 0 {
		fr.left--
	}
	return true
}

type latencyRule struct {
	route route
	d     time.Duration
}

type blockRule struct {
	route    route
	released chan struct{}
	once     sync.Once
}

type faults struct {
	mu      sync.Mutex
	fails   []*failRule
	latency []latencyRule
	blocks  []*blockRule
	blocked int           // requests currently held
	changed chan struct{} // closed and replaced when blocked changes
	log     []RequestRecord
}

func (f *faults) init() { f.changed = make(chan struct{}) }

func (f *faults) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *faults) releaseAll() {
	f.mu.Lock()
	bs := f.blocks
	f.blocks = nil
	f.mu.Unlock()
	for _, b := range bs {
		b.once.Do(func() { close(b.released) })
	}
}

// FailNext makes the next n requests matching pattern (every one until
// ClearFaults when n is negative) fail with f before reaching
// authentication or the handler. pattern is "[METHOD ]PATH" where
// PATH is a path.Match glob and a trailing "/**" matches any remainder, e.g.
// "POST /api/v1/de/listServices", "PUT /dex/api/v1/resources/**". Rules are
// consumed in the order they were added; patterns match on every host
// (all virtual clusters share the /dex/api/v1 paths). It panics on a
// malformed pattern.
func (s *Sim) FailNext(pattern string, n int, f Failure) {
	r := parseRoute(pattern)
	if f.Status == 0 {
		f.Status = http.StatusServiceUnavailable
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.fails = append(s.faults.fails, &failRule{route: r, left: n, f: f})
}

// FailEachNext is FailNext counted per route: each distinct method and path
// matching pattern (on any host) fails its next n requests with f, so a
// pattern such as "/*/**" (every path) makes the first n requests of every route fail, as
// a CDE whose virtual cluster is scaling answers. n must be positive.
func (s *Sim) FailEachNext(pattern string, n int, f Failure) {
	r := parseRoute(pattern)
	if n <= 0 {
		panic(fmt.Sprintf("cdesim: FailEachNext(%q, %d): n must be positive", pattern, n))
	}
	if f.Status == 0 {
		f.Status = http.StatusServiceUnavailable
	}
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.fails = append(s.faults.fails, &failRule{route: r, left: n, f: f, perRoute: true, used: map[string]int{}})
}

// SetLatency delays every request matching pattern by d (wall clock) before
// it is handled; d <= 0 removes the latency of that exact pattern.
func (s *Sim) SetLatency(pattern string, d time.Duration) {
	r := parseRoute(pattern)
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	kept := s.faults.latency[:0]
	for _, l := range s.faults.latency {
		if l.route.raw != pattern {
			kept = append(kept, l)
		}
	}
	s.faults.latency = kept
	if d > 0 {
		s.faults.latency = append(s.faults.latency, latencyRule{route: r, d: d})
	}
}

// Block holds every request matching pattern until the returned release
// function is called (idempotent) or the client gives up. Use AwaitBlocked
// to wait until requests are held.
func (s *Sim) Block(pattern string) (release func()) {
	b := &blockRule{route: parseRoute(pattern), released: make(chan struct{})}
	s.faults.mu.Lock()
	s.faults.blocks = append(s.faults.blocks, b)
	s.faults.mu.Unlock()
	return func() {
		b.once.Do(func() { close(b.released) })
		s.faults.mu.Lock()
		defer s.faults.mu.Unlock()
		for i, o := range s.faults.blocks {
			if o == b {
				s.faults.blocks = append(s.faults.blocks[:i], s.faults.blocks[i+1:]...)
				break
			}
		}
	}
}

// AwaitBlocked waits until at least n requests are held by Block rules.
func (s *Sim) AwaitBlocked(ctx context.Context, n int) error {
	for {
		s.faults.mu.Lock()
		held, ch := s.faults.blocked, s.faults.changed
		s.faults.mu.Unlock()
		if held >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("await %d blocked requests (have %d): %w", n, held, ctx.Err())
		}
	}
}

// ClearFaults removes every failure and latency rule and releases every block.
func (s *Sim) ClearFaults() {
	s.faults.releaseAll()
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.fails = nil
	s.faults.latency = nil
}

// Requests returns a copy of the request log, oldest first. A request is
// logged when its response is complete, before the server sends what it
// buffered (every answer but a large download) or drops the connection
// (Reset): a client that has its answer finds its request in the log.
func (s *Sim) Requests() []RequestRecord {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	return append([]RequestRecord(nil), s.faults.log...)
}

// ResetRequests empties the request log.
func (s *Sim) ResetRequests() {
	s.faults.mu.Lock()
	defer s.faults.mu.Unlock()
	s.faults.log = nil
}

// connKey carries a request's connection in its context (http.Server.ConnContext).
type connKey struct{}

func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// resetConnection drops the request's connection with a TCP RST: hijacked
// over HTTP/1.1; over HTTP/2 (no hijacking) the connection the server
// recorded in the request's context is reset under it, failing every
// stream on it, as a crashing proxy would. Without either, the handler is
// aborted, which resets the stream only.
func resetConnection(w http.ResponseWriter, r *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		var ok bool
		if conn, ok = r.Context().Value(connKey{}).(net.Conn); !ok {
			panic(http.ErrAbortHandler)
		}
	}
	raw := conn
	if tc, ok := conn.(*tls.Conn); ok {
		raw = tc.NetConn()
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0) // Close sends RST instead of FIN
	}
	_ = raw.Close()
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// middleware applies injected faults and records the request log.
func (s *Sim) middleware(target, host string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		var applied []string
		dropped := false // reset: no answer at all
		logged := false
		var tap *bodyTap
		if target == "controlplane" && r.Body != nil {
			tap = &bodyTap{ReadCloser: r.Body}
			r.Body = tap
		}
		record := func() {
			logged = true
			status := sw.status
			if status == 0 && !dropped {
				status = http.StatusOK
			}
			rec := RequestRecord{
				Time: start, Target: target, Host: host, Method: r.Method,
				Path: r.URL.Path, Query: r.URL.RawQuery, Status: status,
				Duration: time.Since(start), Fault: strings.Join(applied, "+"),
			}
			if tap != nil {
				rec.Body = string(tap.kept)
			}
			s.faults.mu.Lock()
			s.faults.log = append(s.faults.log, rec)
			s.faults.mu.Unlock()
			s.opts.Logger.Debug("cdesim request", "target", target, "method", r.Method,
				"path", r.URL.Path, "status", status, "fault", rec.Fault)
		}
		defer func() {
			if !logged {
				record()
			}
		}()

		var delay time.Duration
		var fail *Failure
		var blocks []*blockRule
		s.faults.mu.Lock()
		for _, l := range s.faults.latency {
			if l.route.match(r.Method, r.URL.Path) {
				delay += l.d
			}
		}
		for _, b := range s.faults.blocks {
			if b.route.match(r.Method, r.URL.Path) {
				blocks = append(blocks, b)
			}
		}
		for _, fr := range s.faults.fails {
			if fr.take(r.Method, r.URL.Path) {
				f := fr.f
				fail = &f
				break
			}
		}
		s.faults.mu.Unlock()

		if delay > 0 {
			applied = append(applied, "latency")
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
			}
		}
		if len(blocks) > 0 {
			applied = append(applied, "blocked")
			s.faults.mu.Lock()
			s.faults.blocked++
			s.faults.notifyLocked()
			s.faults.mu.Unlock()
			for _, b := range blocks {
				select {
				case <-b.released:
				case <-r.Context().Done():
				}
			}
			s.faults.mu.Lock()
			s.faults.blocked--
			s.faults.notifyLocked()
			s.faults.mu.Unlock()
		}
		if r.Context().Err() != nil {
			// The client is gone; record it as nginx does.
			sw.status = 499
			return
		}
		if fail != nil && fail.Reset {
			applied = append(applied, "reset")
			dropped = true
			// Logged before the connection drops, as an answer is before it leaves (see Requests).
			record()
			resetConnection(w, r)
			return
		}
		if fail != nil {
			applied = append(applied, "fail")
			if target == "controlplane" {
				w.Header().Set(headerRequestID, newUUID())
			}
			if fail.RetryAfter != "" {
				w.Header().Set("Retry-After", fail.RetryAfter)
			}
			if fail.Body == "" {
				msg := "injected failure: " + http.StatusText(fail.Status)
				if target == "controlplane" {
					writeCDPError(sw, fail.Status, codeForStatus(fail.Status), msg)
				} else {
					writeVCError(sw, fail.Status, msg)
				}
				return
			}
			ct := fail.ContentType
			if ct == "" {
				ct = "application/json"
			}
			sw.Header().Set("Content-Type", ct)
			sw.Header().Set("Content-Length", strconv.Itoa(len(fail.Body)))
			sw.WriteHeader(fail.Status)
			_, _ = sw.Write([]byte(fail.Body))
			return
		}
		next.ServeHTTP(sw, r)
	})
}
