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

// logRequests logs one line per request, with the route pattern rather than the path so that
// tokens do not fill the logs.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := middleware.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		route := chi.RouteContext(r.Context()).RoutePattern()
		if route == "" {
			route = "unmatched"
		}
		level := slog.LevelInfo
		if ww.Status() >= 500 {
			level = slog.LevelError
		}
		elapsed := time.Since(start)
		// The tracing handler named the span before routing; the route pattern is the useful name.
		trace.SpanFromContext(r.Context()).SetName(r.Method + " " + route)
		if s.cfg.Observe != nil {
			s.cfg.Observe(r.Context(), route, r.Method, ww.Status(), elapsed)
		}
		if route == "/metrics" || route == "/health" {
			return // probes and scrapes would drown the log
		}
		s.log.Log(r.Context(), level, "request", "method", r.Method, "route", route, "status", ww.Status(),
			"duration", elapsed.String(), "requestID", middleware.GetReqID(r.Context()))
	})
}
