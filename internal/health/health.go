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
package health

import (
	"context"
	"fmt"
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

	mu       sync.Mutex
	temporal TemporalChecker // set by Started
	stopping bool
	failed   error
}

// New returns a Handler that is alive and not ready until Started. It needs no Temporal client
// yet, so the probes can be served before the worker connects (which may take a while when
// Temporal starts at the same time): liveness must answer during that wait.
func New() *Handler {
	return &Handler{checkTimeout: DefaultCheckTimeout}
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
	defer h.mu.Unlock()
	if h.failed == nil {
		h.failed = err
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

func (h *Handler) live() error {
	if _, _, failed := h.state(); failed != nil {
		return fmt.Errorf("worker failed: %v", failed)
	}
	return nil
}

func (h *Handler) ready(ctx context.Context) error {
	temporal, stopping, failed := h.state()
	switch {
	case failed != nil:
		return fmt.Errorf("worker failed: %v", failed)
	case stopping:
		return fmt.Errorf("worker is stopping")
	case temporal == nil:
		return fmt.Errorf("worker not started yet")
	}
	ctx, cancel := context.WithTimeout(ctx, h.checkTimeout)
	defer cancel()
	if _, err := temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		return fmt.Errorf("temporal not reachable: %v", err)
	}
	return nil
}
