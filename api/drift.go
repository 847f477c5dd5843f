package api

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// DriftAnswer is the body of GET /v1/drift: the components whose job differs from its desired
// state at their last check, and only those (not part of the Witboost API).
type DriftAnswer struct {
	Components []activities.DriftReport `json:"components"`
}

// driftState reads the drift registry of the deployment; found is false when it never ran.
func (s *Server) driftState(ctx context.Context) (state activities.DriftState, found bool, err error) {
	v, err := s.temporal.QueryWorkflow(ctx, workflows.DriftRegistryID(s.cfg.TaskQueue), "", workflows.QueryDriftState)
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return state, false, nil
	case err != nil:
		return state, false, err
	}
	if err := v.Get(&state); err != nil {
		return state, false, err
	}
	return state, true, nil
}

// drift is GET /v1/drift.
func (s *Server) drift(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	state, _, err := s.driftState(ctx)
	if err != nil {
		s.temporalError(w, r, "reading the drift reports failed", err)
		return
	}
	drifted := state.Drifted()
	if drifted == nil {
		drifted = []activities.DriftReport{}
	}
	writeJSON(w, http.StatusOK, DriftAnswer{Components: drifted})
}

// driftGaugeTTL is how long the drifted count is reused between scrapes: each reading is a query
// that a worker answers.
const driftGaugeTTL = 15 * time.Second

// driftCount caches the count of drifted components for the gauge.
type driftCount struct {
	mu    sync.Mutex
	at    time.Time
	n     int
	known bool
}

// DriftedComponents is the number of drifted components at their last check, for the
// cde_drifted_components gauge; ok is false when it cannot be read now (and none was read
// before): the gauge then reports nothing rather than a false zero.
func (s *Server) DriftedComponents(ctx context.Context) (n int, ok bool) {
	c := &s.driftCount
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.known && time.Since(c.at) < driftGaugeTTL {
		return c.n, true
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	state, _, err := s.driftState(ctx)
	if err != nil {
		s.log.Warn("cannot read the drift reports for the gauge", "error", err)
		return c.n, c.known
	}
	c.n, c.at, c.known = len(state.Drifted()), time.Now(), true
	return c.n, true
}
