// Package api serves the Witboost Tech Adapter API 2.2.0 over Temporal: every handler decodes
// the request, starts (or attaches to) a workflow and waits for it, answering 202 with a token
// when the run outlasts the synchronous wait. It makes no call to CDP, CDE or S3 itself.
package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// Config tunes the API.
type Config struct {
	TaskQueue string
	// SyncTimeout is how long provision, unprovision and /v1/validate wait for the run before
	// answering 202 with a token (or, for /v1/validate, a 503 that names /v2/validate).
	SyncTimeout time.Duration
	// DedupeWindow: an identical provision or unprovision arriving this soon after a run of it
	// completed gets that run's answer instead of a new run (the Coordinator retrying after a
	// lost answer). 0 disables it.
	DedupeWindow time.Duration
	// MaxBodyBytes bounds request bodies (413 above); 0 is DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// SearchAttributes sets the Cde* search attributes on runs (they must be registered).
	SearchAttributes bool
	// Auth guards every Tech Adapter route (see Auth); the zero value lets every call through.
	Auth Auth
	// Observe, when set, is told of every request (route pattern, method, status, duration):
	// the process's request metrics.
	Observe func(ctx context.Context, route, method string, status int, d time.Duration)
	// Metrics, when set, is served on GET /metrics, open like /health.
	Metrics http.Handler
	// RunTimeout bounds every provision and unprovision run, ValidateRunTimeout every
	// validation (Temporal's workflow execution timeout). Longer than the longest legitimate run
	// (workflows.LongestRun), they end only runs that no worker picked up or that hang, so that
	// the component's lock (one open run per component) is released.
	RunTimeout         time.Duration
	ValidateRunTimeout time.Duration
	// DecodeConcurrency bounds the descriptors decoded at once (0: GOMAXPROCS). Decoding is
	// CPU-bound and bounded per request (descriptor.MaxDescriptorNodes); this bounds the
	// requests, so /health and the status endpoints keep answering under a flood of large
	// descriptors.
	DecodeConcurrency int
	// DecodeWait is how long a request waits for a decoding slot before a 503 (0: 5s).
	DecodeWait time.Duration
}

// DefaultDecodeWait is how long a request waits for a decoding slot by default.
const DefaultDecodeWait = 5 * time.Second

// Default run bounds: above workflows.LongestRun of each operation (3h55m for a provision).
const (
	DefaultRunTimeout         = 6 * time.Hour
	DefaultValidateRunTimeout = 30 * time.Minute
)

// DefaultMaxBodyBytes leaves room for a descriptor of descriptor.MaxDescriptorBytes once JSON
// escapes it (quotes and newlines double in size) and for latestEnrichedDescriptor.
const DefaultMaxBodyBytes = 3*descriptor.MaxDescriptorBytes + 64<<10

// Server holds the API's dependencies.
type Server struct {
	cfg       Config
	temporal  client.Client
	log       *slog.Logger
	drainOnce sync.Once
	draining  chan struct{}
	// decodeSlots holds a token per descriptor being decoded (Config.DecodeConcurrency).
	decodeSlots chan struct{}
	healthLog   *healthLog
	// driftCount caches the gauge's reading (DriftedComponents).
	driftCount driftCount
}

// New returns the API server on a Temporal client.
func New(cfg Config, tc client.Client, logger *slog.Logger) *Server {
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if cfg.SyncTimeout <= 0 {
		cfg.SyncTimeout = 30 * time.Second
	}
	if cfg.RunTimeout <= 0 {
		cfg.RunTimeout = DefaultRunTimeout
	}
	if cfg.ValidateRunTimeout <= 0 {
		cfg.ValidateRunTimeout = DefaultValidateRunTimeout
	}
	if cfg.DecodeConcurrency <= 0 {
		cfg.DecodeConcurrency = runtime.GOMAXPROCS(0)
	}
	if cfg.DecodeWait <= 0 {
		cfg.DecodeWait = DefaultDecodeWait
	}
	return &Server{cfg: cfg, temporal: tc, log: logger, draining: make(chan struct{}),
		decodeSlots: make(chan struct{}, cfg.DecodeConcurrency), healthLog: &healthLog{log: logger}}
}

// Drain makes every handler still waiting for a run answer at once with 202 and its token, so
// a shutting-down API replica does not hold the Coordinator until its deadline.
func (s *Server) Drain() { s.drainOnce.Do(func() { close(s.draining) }) }

// Router returns the HTTP handler of the API.
func (s *Server) Router() http.Handler {
	r := chi.NewRouter()
	r.Use(middleware.RequestID)
	r.Use(s.logRequests)
	r.Use(s.recoverPanics)

	// Routes outside the group (/health, /metrics) stay open for probes and scrapers.
	r.Get("/health", s.health)
	if s.cfg.Metrics != nil {
		r.Method(http.MethodGet, "/metrics", s.cfg.Metrics)
	}
	r.Group(func(r chi.Router) {
		r.Use(s.authenticate)
		r.Use(s.limitBody)
		r.Post("/v1/validate", s.validateSync)
		r.Post("/v2/validate", s.validateAsync)
		r.Get("/v2/validate/{token}/status", s.validateStatus)
		r.Post("/v1/provision", s.mutate(workflows.OpProvision))
		r.Post("/v1/unprovision", s.mutate(workflows.OpUnprovision))
		r.Get("/v1/provision/{token}/status", s.provisionStatus)
		r.Post("/v1/updateacl", s.notImplemented("updateacl", "A Spark job has no access control lists to update: its output is governed by the storage and output-port components."))
		r.Post("/v1/reverse-provisioning", s.reverseProvision)
		r.Get("/v1/reverse-provisioning/{token}/status", s.reverseStatus)
		r.Get("/v1/drift", s.drift)
	})
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, systemError("no such endpoint: "+r.Method+" "+r.URL.Path,
			"This endpoint does not exist.", "Check the tech adapter URL registered in Witboost: the API is served at its root (/v1/provision, /v1/validate, ...)."))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusMethodNotAllowed, systemError(r.Method+" is not allowed on "+r.URL.Path,
			"This method is not allowed here.", "Use POST for operations and GET for status endpoints."))
	})
	return r
}

// health answers 200 when the API can serve: Temporal is reachable. It also says how many
// workers poll the task queue, without failing when none does: an API taken out of service
// while workers roll would turn a short wait into refused requests. Runs started meanwhile wait
// for a worker, up to their bound.
//
// /health needs no credentials, so it says which dependency is down but never quotes its
// error: that text (addresses, namespaces, TLS and authentication details) goes to the log.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	if _, err := s.temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		s.healthLog.problem(r.Context(), "temporal", "health: Temporal is not reachable", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "temporal": "unreachable",
			"warning": "Temporal is not reachable: the API's log says why"})
		return
	}
	s.healthLog.fine(r.Context(), "temporal", "health: Temporal is reachable again")
	body := map[string]any{"status": "ok", "taskQueue": s.cfg.TaskQueue}
	tq, err := s.temporal.DescribeTaskQueue(ctx, s.cfg.TaskQueue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	switch {
	case err != nil:
		s.healthLog.problem(r.Context(), "pollers", "health: cannot describe the task queue", err, "taskQueue", s.cfg.TaskQueue)
		body["warning"] = "cannot tell whether workers poll task queue " + s.cfg.TaskQueue + ": the API's log says why"
	case len(tq.GetPollers()) == 0:
		s.healthLog.fine(r.Context(), "pollers", "health: the task queue can be described again")
		body["workerPollers"] = 0
		body["warning"] = fmt.Sprintf("no worker polls task queue %s: runs wait for one, and end FAILED after %s (RUN_TIMEOUT) if none comes; check the workers and their TEMPORAL_TASK_QUEUE and TEMPORAL_NAMESPACE", s.cfg.TaskQueue, s.cfg.RunTimeout)
	default:
		s.healthLog.fine(r.Context(), "pollers", "health: the task queue can be described again")
		body["workerPollers"] = len(tq.GetPollers())
	}
	writeJSON(w, http.StatusOK, body)
}

// healthLog logs what /health keeps from its callers: each dependency's error once per change
// (probes call every few seconds; an outage is one line, not one per probe), and its recovery.
type healthLog struct {
	log      *slog.Logger
	mu       sync.Mutex
	problems map[string]string // by dependency, the error last logged
}

func (h *healthLog) problem(ctx context.Context, dependency, msg string, err error, args ...any) {
	h.mu.Lock()
	changed := h.problems[dependency] != err.Error()
	if changed {
		if h.problems == nil {
			h.problems = map[string]string{}
		}
		h.problems[dependency] = err.Error()
	}
	h.mu.Unlock()
	if changed {
		h.log.Log(ctx, slog.LevelWarn, msg, append(args, "error", err.Error())...)
	}
}

func (h *healthLog) fine(ctx context.Context, dependency, msg string) {
	h.mu.Lock()
	_, was := h.problems[dependency]
	delete(h.problems, dependency)
	h.mu.Unlock()
	if was {
		h.log.Log(ctx, slog.LevelInfo, msg)
	}
}

func (s *Server) notImplemented(endpoint, why string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusInternalServerError, systemError("Endpoint not implemented: "+endpoint,
			"The requested feature hasn't been implemented by the CDE Spark provisioner.", why))
	}
}

// decodeRequest reads the ProvisioningRequest body. It answers itself (400 or 413) and returns
// false when the body is not one.
func (s *Server) decodeRequest(w http.ResponseWriter, r *http.Request) (descriptor.Request, bool) {
	var req descriptor.Request
	ok := decodeBody(w, r, &req, bodyKind{
		name:     "ProvisioningRequest",
		shape:    "Send a JSON object with descriptorKind, descriptor (the YAML as a string) and removeData.",
		tooLarge: fmt.Sprintf("Send one data product's descriptor (at most %d bytes of YAML).", descriptor.MaxDescriptorBytes),
		invalid:  func(ps descriptor.Problems) any { return invalidRequest(ps) },
	})
	return req, ok
}

// bodyKind is what decodeBody says of a kind of request body that is not one.
type bodyKind struct {
	name, shape, tooLarge string
	// invalid is the 400 body of its problems.
	invalid func(descriptor.Problems) any
}

// decodeBody reads exactly one JSON value of the kind into v. It answers itself (400 for what is
// not one, 413 above the body limit) and returns false when the body is not one.
func decodeBody(w http.ResponseWriter, r *http.Request, v any, kind bodyKind) bool {
	dec := json.NewDecoder(r.Body)
	err := dec.Decode(v)
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		writeJSON(w, http.StatusRequestEntityTooLarge, systemError(
			fmt.Sprintf("request body above %d bytes", tooBig.Limit), "The request is too large.", kind.tooLarge))
		return false
	case err != nil:
		writeJSON(w, http.StatusBadRequest, kind.invalid(descriptor.Problems{{Field: "body",
			Message: "The request body is not a valid " + kind.name + " JSON: " + err.Error(), Solution: kind.shape}}))
		return false
	case dec.More():
		writeJSON(w, http.StatusBadRequest, kind.invalid(descriptor.Problems{{Field: "body",
			Message: "The request body holds more than one JSON value", Solution: "Send exactly one JSON object."}}))
		return false
	}
	return true
}

// decode runs f, the decoding of a request's descriptor, in one of the DecodeConcurrency slots.
// When no slot frees within DecodeWait it answers 503 itself and returns false; it returns
// false too, without answering, when the client is gone. Reading the body stays outside the
// slot: a slow client must not hold one.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, f func()) bool {
	timer := time.NewTimer(s.cfg.DecodeWait)
	defer timer.Stop()
	select {
	case s.decodeSlots <- struct{}{}:
	case <-timer.C:
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, systemError(
			fmt.Sprintf("no descriptor decoding slot freed within %s: %d descriptors are being decoded (DECODE_CONCURRENCY)", s.cfg.DecodeWait, s.cfg.DecodeConcurrency),
			"The provisioner is busy decoding other descriptors; the request was not processed.",
			"Retry the same request in a few seconds.",
			"If this persists, raise DECODE_CONCURRENCY (it defaults to the number of CPUs) or run more API replicas."))
		return false
	case <-r.Context().Done():
		return false
	}
	defer func() { <-s.decodeSlots }()
	f()
	return true
}

// requestHash identifies a request's content, so a retry of the same request attaches to its run.
func requestHash(op workflows.Operation, req descriptor.Request) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%t", op, req.DescriptorKind, req.Descriptor, req.RemoveData)
	return hex.EncodeToString(h.Sum(nil))
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

// writeToken answers 202 with the raw token, as the Tech Adapter implementations do.
func writeToken(w http.ResponseWriter, token string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write([]byte(token))
}
