package activities

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
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

// lookupTarget is a resolved target of virtual cluster vc in the service named service, whose
// cluster id is clusterID and environment env.
func lookupTarget(service, clusterID, env, vc string) Target {
	return Target{ServiceName: service, ServiceID: clusterID, EnvironmentCRN: "crn:env:" + env, ClusterFqdn: clusterID + ".example",
		ClusterName: vc, VcID: "id-" + vc, VcAPIURL: "https://" + vc + ".example/dex/api/v1", VcUIURL: "https://" + vc + ".example/dex/ui/"}
}

// keepAll keeps what a resolve of t keeps: the service's id under its name, what describeService
// and describeVc said, and the idbroker hosts of its environment.
func keepAll(l *Lookups, t Target, hosts ...string) {
	l.keepServiceID(t.ServiceName, t.ServiceID)
	l.keepServiceFacts(t.ServiceID, serviceFacts{environmentCRN: t.EnvironmentCRN, clusterFqdn: t.ClusterFqdn})
	l.keepClusterFacts(t.ServiceID, t.VcID, clusterFacts{apiURL: t.VcAPIURL, uiURL: t.VcUIURL})
	if len(hosts) == 0 {
		hosts = []string{"10.0.0.1"}
	}
	l.keepIDBrokerHosts(t.EnvironmentCRN, hosts)
}

// assertKeepsAll checks that l answers for t what keepAll kept.
func assertKeepsAll(t *testing.T, l *Lookups, tg Target, hosts ...string) {
	t.Helper()
	if len(hosts) == 0 {
		hosts = []string{"10.0.0.1"}
	}
	id, ok := l.serviceID(tg.ServiceName)
	if assert.True(t, ok, "the id of service %s", tg.ServiceName) {
		assert.Equal(t, tg.ServiceID, id)
	}
	sf, ok := l.serviceFacts(tg.ServiceID)
	if assert.True(t, ok, "the facts of service %s", tg.ServiceID) {
		assert.Equal(t, serviceFacts{environmentCRN: tg.EnvironmentCRN, clusterFqdn: tg.ClusterFqdn}, sf)
	}
	cf, ok := l.clusterFacts(tg.ServiceID, tg.VcID)
	if assert.True(t, ok, "the facts of virtual cluster %s", tg.VcID) {
		assert.Equal(t, clusterFacts{apiURL: tg.VcAPIURL, uiURL: tg.VcUIURL}, cf)
	}
	got, ok := l.idBrokerHosts(tg.EnvironmentCRN)
	if assert.True(t, ok, "the hosts of environment %s", tg.EnvironmentCRN) {
		assert.Equal(t, hosts, got)
	}
}

// assertKeepsNone checks that l answers nothing for t.
func assertKeepsNone(t *testing.T, l *Lookups, tg Target) {
	t.Helper()
	_, ok := l.serviceID(tg.ServiceName)
	assert.False(t, ok, "the id of service %s", tg.ServiceName)
	_, ok = l.serviceFacts(tg.ServiceID)
	assert.False(t, ok, "the facts of service %s", tg.ServiceID)
	_, ok = l.clusterFacts(tg.ServiceID, tg.VcID)
	assert.False(t, ok, "the facts of virtual cluster %s", tg.VcID)
	_, ok = l.idBrokerHosts(tg.EnvironmentCRN)
	assert.False(t, ok, "the hosts of environment %s", tg.EnvironmentCRN)
}

func TestLookupsKeepAnswersForTheirTTL(t *testing.T) {
	const ttl = 30 * time.Second
	l, clock := newTestLookups(ttl)
	a := lookupTarget("cde-dev", "cluster-1", "1", "vc-a")
	keepAll(l, a)

	clock.advance(ttl - time.Nanosecond)
	assertKeepsAll(t, l, a)

	// Every answer is keyed by what it is about, and only by that.
	_, ok := l.serviceID("cde-other")
	assert.False(t, ok, "another service name")
	_, ok = l.serviceFacts("cluster-2")
	assert.False(t, ok, "another service id")
	_, ok = l.clusterFacts("cluster-1", "id-vc-b")
	assert.False(t, ok, "another virtual cluster of the service")
	_, ok = l.clusterFacts("cluster-2", a.VcID)
	assert.False(t, ok, "the same vc id under another service id")
	_, ok = l.idBrokerHosts("crn:env:2")
	assert.False(t, ok, "another environment")

	clock.advance(time.Nanosecond)
	assertKeepsNone(t, l, a) // expired at TTL

	// Kept again, fresh again from then on.
	keepAll(l, a)
	assertKeepsAll(t, l, a)
}

// An answer kept again replaces the one kept before, and lasts TTL from then.
func TestLookupsKeepingAgainReplacesAndRenews(t *testing.T) {
	const ttl = 30 * time.Second
	l, clock := newTestLookups(ttl)
	old := lookupTarget("cde-dev", "cluster-1", "1", "vc-a")
	keepAll(l, old, "10.0.0.1")

	clock.advance(ttl / 2)
	renewed := old
	renewed.ClusterFqdn, renewed.VcAPIURL, renewed.VcUIURL = "other.example", "https://other.example/dex/api/v1", ""
	keepAll(l, renewed, "10.0.0.9")
	l.keepServiceID("cde-dev", "cluster-1")

	clock.advance(ttl/2 + time.Nanosecond) // past the first keep's TTL, within the second's
	assertKeepsAll(t, l, renewed, "10.0.0.9")

	l.keepServiceID("cde-dev", "cluster-9") // the name now stands for another service
	id, ok := l.serviceID("cde-dev")
	require.True(t, ok)
	assert.Equal(t, "cluster-9", id)
}

func TestLookupsWithoutTTLKeepNothing(t *testing.T) {
	for _, ttl := range []time.Duration{0, -time.Second} {
		t.Run(fmt.Sprint(ttl), func(t *testing.T) {
			l, _ := newTestLookups(ttl)
			a := lookupTarget("cde-dev", "cluster-1", "1", "vc-a")
			keepAll(l, a)
			assertKeepsNone(t, l, a)
			assert.NotPanics(t, func() { l.Forget(a) })
		})
	}
}

// The Activities of a test (or a worker built by hand) may have no Lookups at all.
func TestNilLookupsAreSafeAndKeepNothing(t *testing.T) {
	var l *Lookups
	a := lookupTarget("cde-dev", "cluster-1", "1", "vc-a")
	assert.NotPanics(t, func() {
		keepAll(l, a)
		assertKeepsNone(t, l, a)
		l.Forget(a)
		l.Forget(Target{})
	})
}

// A Lookups built as a literal (no NewLookups, so no clock, and no map yet) uses the wall clock.
func TestLookupsLiteralUsesTheWallClock(t *testing.T) {
	l := &Lookups{TTL: time.Hour}
	a := lookupTarget("cde-dev", "cluster-1", "1", "vc-a")
	assert.NotPanics(t, func() { l.Forget(a) }, "nothing kept yet")
	require.NotPanics(t, func() { keepAll(l, a) })
	assertKeepsAll(t, l, a)
	l.Forget(a)
	assertKeepsNone(t, l, a)
}

// Forget drops what is kept of the virtual cluster of a target (by its id), of its service (by
// its id: every virtual cluster of it, its facts, every name found to stand for it) and the hosts
// of its environment: nothing of another service or environment.
func TestLookupsForgetOnlyWhatLeadsToTheTarget(t *testing.T) {
	a := lookupTarget("cde-dev", "cluster-1", "1", "vc-a")
	b := lookupTarget("cde-dev", "cluster-1", "1", "vc-b") // another cluster of the same service
	c := lookupTarget("cde-other", "cluster-2", "2", "vc-c")
	alias := a
	alias.ServiceName = "cde-dev-alias" // the same service found by another name

	// What a Lookups can answer, by name.
	entries := map[string]func(l *Lookups) bool{
		"id of cde-dev": func(l *Lookups) bool { _, ok := l.serviceID("cde-dev"); return ok },
		"id of cde-dev-alias": func(l *Lookups) bool {
			_, ok := l.serviceID("cde-dev-alias")
			return ok
		},
		"id of cde-other":    func(l *Lookups) bool { _, ok := l.serviceID("cde-other"); return ok },
		"facts of cluster-1": func(l *Lookups) bool { _, ok := l.serviceFacts("cluster-1"); return ok },
		"facts of cluster-2": func(l *Lookups) bool { _, ok := l.serviceFacts("cluster-2"); return ok },
		"facts of vc-a":      func(l *Lookups) bool { _, ok := l.clusterFacts("cluster-1", "id-vc-a"); return ok },
		"facts of vc-b":      func(l *Lookups) bool { _, ok := l.clusterFacts("cluster-1", "id-vc-b"); return ok },
		"facts of vc-c":      func(l *Lookups) bool { _, ok := l.clusterFacts("cluster-2", "id-vc-c"); return ok },
		"hosts of env 1":     func(l *Lookups) bool { _, ok := l.idBrokerHosts("crn:env:1"); return ok },
		"hosts of env 2":     func(l *Lookups) bool { _, ok := l.idBrokerHosts("crn:env:2"); return ok },
	}
	serviceOfA := []string{"id of cde-dev", "id of cde-dev-alias", "facts of cluster-1", "facts of vc-a", "facts of vc-b"}
	tests := []struct {
		name   string
		forget Target
		gone   []string
	}{
		{"the whole target", a, append(serviceOfA, "hosts of env 1")},
		{"by its service id", Target{ServiceID: a.ServiceID}, serviceOfA},
		{"by its vc id", Target{VcID: a.VcID}, []string{"facts of vc-a"}},
		{"by its environment", Target{EnvironmentCRN: a.EnvironmentCRN}, []string{"hosts of env 1"}},
		{"by names and URL only: nothing", Target{ServiceName: a.ServiceName, ClusterName: a.ClusterName, VcAPIURL: a.VcAPIURL}, nil},
		{"an empty target: nothing", Target{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, _ := newTestLookups(time.Minute)
			for _, tg := range []Target{a, alias, b, c} {
				keepAll(l, tg)
			}
			for name, kept := range entries {
				require.True(t, kept(l), "%s kept before", name)
			}

			l.Forget(tt.forget)

			gone := map[string]bool{}
			for _, name := range tt.gone {
				gone[name] = true
			}
			for name, kept := range entries {
				assert.Equal(t, !gone[name], kept(l), "%s kept after", name)
			}
		})
	}
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
	_ = append(got[:1], "appended by a reader")

	again, ok := l.idBrokerHosts("crn:env")
	require.True(t, ok)
	assert.Equal(t, []string{"10.0.0.1", "10.0.0.2"}, again)
}

// The activities of a worker share one Lookups, which starts empty: a first keep may meet reads
// and Forgets of other activities (run with -race).
func TestLookupsAreSafeForConcurrentUse(t *testing.T) {
	for range 20 {
		l, _ := newTestLookups(time.Minute)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 4 {
			tg := lookupTarget("cde-dev", fmt.Sprint("cluster-", i%2), fmt.Sprint(i%2), fmt.Sprint("vc-", i))
			wg.Go(func() {
				<-start
				keepAll(l, tg)
			})
			wg.Go(func() {
				<-start
				l.serviceID(tg.ServiceName)
				l.serviceFacts(tg.ServiceID)
				l.clusterFacts(tg.ServiceID, tg.VcID)
				l.idBrokerHosts(tg.EnvironmentCRN)
			})
			wg.Go(func() {
				<-start
				l.Forget(tg)
			})
		}
		close(start)
		wg.Wait()
	}
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
