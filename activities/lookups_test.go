package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/cde"
)

// fakeClock is a Lookups.now that moves only when told.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestLookups(ttl time.Duration) (*Lookups, *fakeClock) {
	clock := &fakeClock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	l := NewLookups(ttl)
	l.now = clock.now
	return l, clock
}

func lookupTarget(vc string) Target {
	return Target{ServiceName: "cde-dev", ServiceID: "cluster-1", EnvironmentCRN: "crn:env:" + vc, ClusterFqdn: "svc.example",
		ClusterName: vc, VcID: "id-" + vc, VcAPIURL: "https://" + vc + ".example/dex/api/v1"}
}

func TestLookupsKeepAnswersForTheirTTL(t *testing.T) {
	l, clock := newTestLookups(30 * time.Second)
	want := lookupTarget("vc-a")
	l.keepTarget("cde-dev", "vc-a", want)
	l.keepIDBrokerHosts(want.EnvironmentCRN, []string{"10.0.0.1"})

	clock.advance(30*time.Second - time.Nanosecond)
	got, ok := l.target("cde-dev", "vc-a")
	require.True(t, ok, "fresh until the TTL is over")
	assert.Equal(t, want, got)
	hosts, ok := l.idBrokerHosts(want.EnvironmentCRN)
	require.True(t, ok)
	assert.Equal(t, []string{"10.0.0.1"}, hosts)
	_, ok = l.target("cde-dev", "vc-b")
	assert.False(t, ok, "another cluster name is another entry")
	_, ok = l.target("cde-other", "vc-a")
	assert.False(t, ok, "the same cluster name in another service is another entry")

	clock.advance(time.Nanosecond)
	_, ok = l.target("cde-dev", "vc-a")
	assert.False(t, ok, "expired at TTL")
	_, ok = l.idBrokerHosts(want.EnvironmentCRN)
	assert.False(t, ok, "expired at TTL")

	// Kept again, fresh again from then on.
	l.keepTarget("cde-dev", "vc-a", want)
	_, ok = l.target("cde-dev", "vc-a")
	assert.True(t, ok)
}

func TestLookupsWithoutTTLKeepNothing(t *testing.T) {
	for _, ttl := range []time.Duration{0, -time.Second} {
		t.Run(fmt.Sprint(ttl), func(t *testing.T) {
			l, _ := newTestLookups(ttl)
			tg := lookupTarget("vc-a")
			l.keepTarget("cde-dev", "vc-a", tg)
			l.keepIDBrokerHosts(tg.EnvironmentCRN, []string{"10.0.0.1"})
			_, ok := l.target("cde-dev", "vc-a")
			assert.False(t, ok)
			_, ok = l.idBrokerHosts(tg.EnvironmentCRN)
			assert.False(t, ok)
		})
	}
}

// The Activities of a test (or a worker built by hand) may have no Lookups at all.
func TestNilLookupsAreSafeAndKeepNothing(t *testing.T) {
	var l *Lookups
	tg := lookupTarget("vc-a")
	assert.NotPanics(t, func() {
		l.keepTarget("cde-dev", "vc-a", tg)
		l.keepIDBrokerHosts(tg.EnvironmentCRN, []string{"10.0.0.1"})
		l.Forget(tg)
	})
	_, ok := l.target("cde-dev", "vc-a")
	assert.False(t, ok)
	_, ok = l.idBrokerHosts(tg.EnvironmentCRN)
	assert.False(t, ok)
}

// A Lookups built as a literal (no NewLookups, so no clock) uses the wall clock.
func TestLookupsLiteralUsesTheWallClock(t *testing.T) {
	l := &Lookups{TTL: time.Hour}
	tg := lookupTarget("vc-a")
	require.NotPanics(t, func() { l.keepTarget("cde-dev", "vc-a", tg) })
	got, ok := l.target("cde-dev", "vc-a")
	assert.True(t, ok)
	assert.Equal(t, tg, got)
}

func TestLookupsForgetOnlyWhatLeadsToTheVirtualCluster(t *testing.T) {
	a, b := lookupTarget("vc-a"), lookupTarget("vc-b")
	tests := []struct {
		name   string
		forget Target
	}{
		{"by its jobs API URL", Target{VcAPIURL: a.VcAPIURL, EnvironmentCRN: a.EnvironmentCRN}},
		{"by its id", Target{VcID: a.VcID, EnvironmentCRN: a.EnvironmentCRN}},
		{"the whole target", a},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newTestLookups(time.Minute)
			l.keepTarget("cde-dev", "vc-a", a)
			l.keepTarget("cde-dev-alias", "vc-a", a) // the same cluster found by other names
			l.keepTarget("cde-dev", "vc-b", b)
			l.keepIDBrokerHosts(a.EnvironmentCRN, []string{"10.0.0.1"})
			l.keepIDBrokerHosts(b.EnvironmentCRN, []string{"10.0.0.2"})

			l.Forget(tt.forget)

			_, ok := l.target("cde-dev", "vc-a")
			assert.False(t, ok)
			_, ok = l.target("cde-dev-alias", "vc-a")
			assert.False(t, ok, "whatever names it was looked up by")
			_, ok = l.idBrokerHosts(a.EnvironmentCRN)
			assert.False(t, ok, "the hosts of its environment")
			got, ok := l.target("cde-dev", "vc-b")
			assert.True(t, ok, "another virtual cluster stays")
			assert.Equal(t, b, got)
			hosts, ok := l.idBrokerHosts(b.EnvironmentCRN)
			assert.True(t, ok, "another environment's hosts stay")
			assert.Equal(t, []string{"10.0.0.2"}, hosts)
		})
	}
	t.Run("a target with neither URL nor id drops no cluster", func(t *testing.T) {
		l, _ := newTestLookups(time.Minute)
		l.keepTarget("cde-dev", "vc-a", a)
		l.Forget(Target{})
		_, ok := l.target("cde-dev", "vc-a")
		assert.True(t, ok)
	})
}

// An environment whose datalake has no idbroker host yet is asked again: one that comes up is
// used by the next provision.
func TestLookupsDoNotKeepAnEmptyHostList(t *testing.T) {
	l, _ := newTestLookups(time.Minute)
	l.keepIDBrokerHosts("crn:env", nil)
	_, ok := l.idBrokerHosts("crn:env")
	assert.False(t, ok)
	l.keepIDBrokerHosts("crn:env", []string{})
	_, ok = l.idBrokerHosts("crn:env")
	assert.False(t, ok)
}

func TestLookupsHostListsAreCopies(t *testing.T) {
	l, _ := newTestLookups(time.Minute)
	given := []string{"10.0.0.1", "10.0.0.2"}
	l.keepIDBrokerHosts("crn:env", given)
	given[0] = "changed by the caller"

	got, ok := l.idBrokerHosts("crn:env")
	require.True(t, ok)
	assert.Equal(t, []string{"10.0.0.1", "10.0.0.2"}, got)
	got[1] = "changed by a reader"

	again, ok := l.idBrokerHosts("crn:env")
	require.True(t, ok)
	assert.Equal(t, []string{"10.0.0.1", "10.0.0.2"}, again)
}

// Which failures of the jobs API, after their retries, make the kept target suspect.
func TestStaleTarget(t *testing.T) {
	status := func(code int) error {
		return fmt.Errorf("cde: op: %w", &cde.APIError{Op: "op", Method: "X", URL: "/x", Status: code})
	}
	coded := func(code int, c string) error { return &cde.APIError{Op: "op", Status: code, Code: c} }
	tests := []struct {
		name   string
		method string
		err    error
		stale  bool
	}{
		{"connection refused", http.MethodGet, fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true},
		{"connection cut short", http.MethodPut, io.ErrUnexpectedEOF, true},
		{"timeout", http.MethodGet, context.DeadlineExceeded, true},
		{"503 to a read", http.MethodGet, status(http.StatusServiceUnavailable), true},
		{"500 to a write", http.MethodPost, status(http.StatusInternalServerError), true},
		{"502 to a delete", http.MethodDelete, status(http.StatusBadGateway), true},
		{"401: refused token", http.MethodGet, status(http.StatusUnauthorized), true},
		{"403: refused token", http.MethodPatch, status(http.StatusForbidden), true},
		{"UNAUTHENTICATED code", http.MethodGet, coded(http.StatusBadRequest, "UNAUTHENTICATED"), true},
		{"404 to a POST: the container is gone", http.MethodPost, status(http.StatusNotFound), true},
		{"404 to a PUT", http.MethodPut, status(http.StatusNotFound), true},
		{"404 to a PATCH", http.MethodPatch, status(http.StatusNotFound), true},
		{"404 to a GET is about the object", http.MethodGet, status(http.StatusNotFound), false},
		{"404 to a HEAD", http.MethodHead, status(http.StatusNotFound), false},
		{"404 to a DELETE", http.MethodDelete, status(http.StatusNotFound), false},
		{"NOT_FOUND code to a GET", http.MethodGet, coded(http.StatusBadRequest, "NOT_FOUND"), false},
		{"409", http.MethodPost, status(http.StatusConflict), false},
		{"ALREADY_EXISTS code", http.MethodPost, coded(http.StatusBadRequest, "ALREADY_EXISTS"), false},
		{"400", http.MethodPatch, status(http.StatusBadRequest), false},
		{"422", http.MethodPost, status(http.StatusUnprocessableEntity), false},
		{"429", http.MethodGet, status(http.StatusTooManyRequests), false},
		{"canceled: the caller gave up", http.MethodGet, fmt.Errorf("cde: getJob: %w", context.Canceled), false},
		{"canceled while a 503 was retried", http.MethodGet, errors.Join(context.Canceled, status(http.StatusServiceUnavailable)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.stale, staleTarget(tt.method, tt.err), "%s: %v", tt.method, tt.err)
		})
	}
}
