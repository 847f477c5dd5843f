package api

import (
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"
	"go.opentelemetry.io/otel/trace"
)

// limitBody bounds request bodies; decodeRequest turns the overflow into a 413.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// recoverPanics answers a panic with a SystemError and logs the stack; the stack never reaches
// the client.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("panic while serving a request", "panic", v, "stack", string(debug.Stack()),
					"requestID", middleware.GetReqID(r.Context()))
				writeJSON(w, http.StatusInternalServerError, systemError("internal error (request "+middleware.GetReqID(r.Context())+")",
					"An unexpected error occurred while processing the request."))
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// logRequests logs one line per request and tells Observe of it (the request metrics). Both name
// the request by bounded labels only (routeLabel, methodLabel): a caller choosing random paths or
// methods must neither create metric series nor put its text (a token in a path) in the logs.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route, method := routeLabel(r), methodLabel(r.Method)
		level := slog.LevelInfo
		if ww.Status() >= 500 {
			level = slog.LevelError
		}
		elapsed := time.Since(start)
		// The tracing handler named the span before routing; the route pattern is the useful name.
		trace.SpanFromContext(r.Context()).SetName(method + " " + route)
		if s.cfg.Observe != nil {
			s.cfg.Observe(r.Context(), route, method, ww.Status(), elapsed)
		}
		if route == "/metrics" || route == "/health" {
			return // probes and scrapes would drown the log
		}
		s.log.Log(r.Context(), level, "request", "method", method, "route", route, "status", ww.Status(),
			"duration", elapsed.String(), "requestID", middleware.GetReqID(r.Context()))
	})
}

// unmatchedRoute is the route label of a request no route matched (404, 405).
const unmatchedRoute = "unmatched"

// routeLabel is the pattern of the route chi matched (e.g. /v1/provision/{token}/status), never
// the raw path, or unmatchedRoute.
func routeLabel(r *http.Request) string {
	if route := chi.RouteContext(r.Context()).RoutePattern(); route != "" {
		return route
	}
	return unmatchedRoute
}

// knownMethods are the methods that keep their name as a label; any other is "other".
var knownMethods = map[string]bool{
	http.MethodGet: true, http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true,
	http.MethodDelete: true, http.MethodHead: true, http.MethodOptions: true,
}

// methodLabel is method when it is a known one, else "other": net/http accepts any token as a
// method, so the raw one would be a label of the caller's choosing.
func methodLabel(method string) string {
	if knownMethods[method] {
		return method
	}
	return "other"
}
