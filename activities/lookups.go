package activities

import (
	"slices"
	"sync"
	"time"
)

// Lookups keeps the control-plane answers every provision of a virtual cluster asks again: the
// service and virtual cluster resolved to a Target, and the idbroker hosts of an environment's
// datalake. They change when a platform team rebuilds a cluster, not between two provisions, and
// asking costs four to six signed CDP calls in a row (half the latency of a small provision).
//
// Only positive answers are kept, for TTL: a service or cluster that is missing or not running
// is asked again on every check, so one that is started (or created) is seen at once. A kept
// Target is dropped as soon as a call to its jobs API shows it may be stale (Forget): no answer
// at all, a 5xx, a refused token, or a 404 to a write, which says the virtual cluster itself is
// gone. The worst case, a cluster stopped within TTL of a check, is a provision that fails at its
// first jobs-API call instead of at the check, with the jobs API's error.
//
// The zero TTL keeps nothing. Safe for concurrent use; shared by every activity of the worker.
type Lookups struct {
	TTL time.Duration
	now func() time.Time // nil: time.Now; tests replace it

	mu      sync.Mutex
	targets map[targetKey]expiring[Target]
	hosts   map[string]expiring[[]string] // by environment CRN
}

type targetKey struct{ service, cluster string }

type expiring[T any] struct {
	v       T
	expires time.Time
}

// NewLookups returns a cache keeping answers for ttl (0: none).
func NewLookups(ttl time.Duration) *Lookups {
	return &Lookups{TTL: ttl, now: time.Now}
}

func (l *Lookups) enabled() bool { return l != nil && l.TTL > 0 }

// clock is the time now (a Lookups built without NewLookups has no now).
func (l *Lookups) clock() time.Time {
	if l.now == nil {
		return time.Now()
	}
	return l.now()
}

// target is the kept resolution of the service and cluster names, if fresh.
func (l *Lookups) target(service, cluster string) (Target, bool) {
	if !l.enabled() {
		return Target{}, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.targets[targetKey{service, cluster}]
	if !ok || !l.clock().Before(e.expires) {
		return Target{}, false
	}
	return e.v, true
}

// keepTarget keeps a complete Target whose service and cluster were both running.
func (l *Lookups) keepTarget(service, cluster string, t Target) {
	if !l.enabled() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.targets == nil {
		l.targets = map[targetKey]expiring[Target]{}
	}
	l.targets[targetKey{service, cluster}] = expiring[Target]{v: t, expires: l.clock().Add(l.TTL)}
}

// idBrokerHosts is the kept host list of the environment, if fresh.
func (l *Lookups) idBrokerHosts(environmentCRN string) ([]string, bool) {
	if !l.enabled() {
		return nil, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := l.hosts[environmentCRN]
	if !ok || !l.clock().Before(e.expires) {
		return nil, false
	}
	return slices.Clone(e.v), true
}

// keepIDBrokerHosts keeps a non-empty host list (an empty one is asked again, like a missing
// cluster: an idbroker that comes up is used by the next provision).
func (l *Lookups) keepIDBrokerHosts(environmentCRN string, hosts []string) {
	if !l.enabled() || len(hosts) == 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.hosts == nil {
		l.hosts = map[string]expiring[[]string]{}
	}
	l.hosts[environmentCRN] = expiring[[]string]{v: slices.Clone(hosts), expires: l.clock().Add(l.TTL)}
}

// Forget drops every kept answer that leads to the virtual cluster of t (its jobs API URL),
// whatever names it was looked up by, and the idbroker hosts of its environment.
func (l *Lookups) Forget(t Target) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, e := range l.targets {
		if e.v.VcAPIURL == t.VcAPIURL || e.v.VcID == t.VcID && t.VcID != "" {
			delete(l.targets, k)
		}
	}
	delete(l.hosts, t.EnvironmentCRN)
}
