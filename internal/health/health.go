// Package health serves the worker's Kubernetes probes. A Temporal worker opens no port of its
// own, so without these a crashed poller or an unreachable Temporal frontend is invisible to
// the platform (Temporal's Helm chart dropped its worker liveness probe for that reason).
//
//   - /healthz (liveness): the process serves HTTP and the worker has not failed for good.
//     Restarting helps only then, so it does not depend on Temporal: an outage of the frontend
//     must not restart every worker.
//   - /readyz (readiness): the worker is polling (started, not stopping, not failed) and the
//     Temporal frontend answers its health check.
//
// The Handler is an http.Handler for both paths, so the same server can also carry /metrics.
// The probes answer anyone who reaches the port, so they say what is wrong (Temporal not
// reachable, worker failed) but never quote an error: its text goes to the log.
package health

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
)

// TemporalChecker is the part of client.Client the readiness probe uses.
type TemporalChecker interface {
	CheckHealth(ctx context.Context, request *client.CheckHealthRequest) (*client.CheckHealthResponse, error)
}

// DefaultCheckTimeout bounds one Temporal health check: below Kubernetes' default probe
// timeout of a few seconds, so a hung frontend reads as "not ready", not as a probe timeout.
const DefaultCheckTimeout = 2 * time.Second

// Handler serves /healthz and /readyz for one worker. Use New.
type Handler struct {
	checkTimeout time.Duration
	log          *slog.Logger

	mu       sync.Mutex
	temporal TemporalChecker // set by Started
	stopping bool
	failed   error
	// unreachable is the Temporal error last logged, so that an outage is one log line rather
	// than one per probe.
	unreachable string
}

// Option configures a Handler.
type Option func(*Handler)

// WithLogger sets the logger of the errors the probes do not show (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }

// New returns a Handler that is alive and not ready until Started. It needs no Temporal client
// yet, so the probes can be served before the worker connects (which may take a while when
// Temporal starts at the same time): liveness must answer during that wait.
func New(opts ...Option) *Handler {
	h := &Handler{checkTimeout: DefaultCheckTimeout, log: slog.Default()}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Started records that the worker is polling its task queue, with c the client it polls with.
func (h *Handler) Started(c TemporalChecker) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.temporal = c
}

// Stopping records that the worker is draining (shutdown began): it is no longer ready, so a
// rolling update counts it as gone, but it is alive while in-flight activities finish.
func (h *Handler) Stopping() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopping = true
}

// Failed records a fatal worker error (the signature of worker.Options.OnFatalError): the
// SDK has stopped the worker, so liveness fails and Kubernetes restarts the pod.
func (h *Handler) Failed(err error) {
	h.mu.Lock()
	first := h.failed == nil
	if first {
		h.failed = err
	}
	h.mu.Unlock()
	if first {
		h.log.Error("worker failed for good: liveness fails so that the pod restarts", "error", err.Error())
	}
}

func (h *Handler) state() (temporal TemporalChecker, stopping bool, failed error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.temporal, h.stopping, h.failed
}

// ServeHTTP answers /healthz and /readyz with 200 "ok" or 503 and the reason, in plain text.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	var err error
	if r.URL.Path == "/healthz" {
		err = h.live()
	} else {
		err = h.ready(r.Context())
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// errWorkerFailed is what the probes say of a fatal worker error (Failed logged it).
var errWorkerFailed = errors.New("worker failed: its log says why")

func (h *Handler) live() error {
	if _, _, failed := h.state(); failed != nil {
		return errWorkerFailed
	}
	return nil
}

func (h *Handler) ready(ctx context.Context) error {
	temporal, stopping, failed := h.state()
	switch {
	case failed != nil:
		return errWorkerFailed
	case stopping:
		return fmt.Errorf("worker is stopping")
	case temporal == nil:
		return fmt.Errorf("worker not started yet")
	}
	ctx, cancel := context.WithTimeout(ctx, h.checkTimeout)
	defer cancel()
	if _, err := temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		h.logUnreachable(err)
		return errors.New("temporal not reachable: the worker's log says why")
	}
	h.logUnreachable(nil)
	return nil
}

// logUnreachable logs a Temporal health-check error when it differs from the last one logged,
// and the recovery (err nil) after one.
func (h *Handler) logUnreachable(err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	h.mu.Lock()
	last := h.unreachable
	h.unreachable = msg
	h.mu.Unlock()
	switch {
	case msg == last:
	case err != nil:
		h.log.Warn("readiness: Temporal is not reachable", "error", msg)
	default:
		h.log.Info("readiness: Temporal is reachable again")
	}
}
