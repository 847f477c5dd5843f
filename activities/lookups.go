package activities

import (
	"slices"
	"sync"
	"time"
)

// Lookups keeps, for a short while, the parts of the control plane's answers that cannot change
// while a CDE service or virtual cluster lives: the id a service name stands for, a service's
// host and environment (describeService), a virtual cluster's jobs API and UI URLs (describeVc),
// and an environment's idbroker hosts. Every check of a virtual cluster asks them again, in three
// rounds of signed CDP calls one after the other; with them kept, a check is one round: the
// service listing beside the listing of the virtual clusters of the service id kept.
//
// Whether the service and the virtual cluster exist and run is never kept: both listings are
// asked at every check, so a cluster stopped, deleted or started a second ago is reported as the
// reference provisioner reports it. What is kept is keyed by the ids those listings return, so a
// service or cluster deleted and created again under the same name (new ids) is described anew.
// A kept answer lasts TTL, and is dropped as soon as a jobs-API request to its virtual cluster
// fails in a way that says it may be stale (Forget): no answer, a 5xx, a refused token, a 404 to a
// write. The idbroker hosts can change while the datalake lives (a repair replaces its hosts):
// TTL bounds how long a provision may use the old ones.
//
// The zero TTL keeps nothing. Safe for concurrent use; shared by every activity of the worker.
type Lookups struct {
	TTL time.Duration
	now func() time.Time // nil: time.Now; tests replace it

	mu       sync.Mutex
	services map[string]expiring[string]       // service name → cluster id
	descs    map[string]expiring[serviceFacts] // cluster id → describeService's facts
	vcs      map[vcKey]expiring[clusterFacts]  // (cluster id, vc id) → describeVc's facts
	hosts    map[string]expiring[[]string]     // environment CRN → idbroker hosts
}

// serviceFacts are what describeService says of a service for as long as it lives.
type serviceFacts struct{ environmentCRN, clusterFqdn string }

// clusterFacts are what describeVc says of a virtual cluster for as long as it lives.
type clusterFacts struct{ apiURL, uiURL string }

type vcKey struct{ clusterID, vcID string }

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

// get returns m[k] if kept and fresh.
func get[K comparable, V any](l *Lookups, m func(*Lookups) *map[K]expiring[V], k K) (V, bool) {
	var zero V
	if !l.enabled() {
		return zero, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e, ok := (*m(l))[k]
	if !ok || !l.clock().Before(e.expires) {
		return zero, false
	}
	return e.v, true
}

// keep sets (*m)[k] = v for TTL.
func keep[K comparable, V any](l *Lookups, mf func(*Lookups) *map[K]expiring[V], k K, v V) {
	if !l.enabled() {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	m := mf(l)
	if *m == nil {
		*m = map[K]expiring[V]{}
	}
	(*m)[k] = expiring[V]{v: v, expires: l.clock().Add(l.TTL)}
}

func servicesOf(l *Lookups) *map[string]expiring[string]    { return &l.services }
func descsOf(l *Lookups) *map[string]expiring[serviceFacts] { return &l.descs }
func vcsOf(l *Lookups) *map[vcKey]expiring[clusterFacts]    { return &l.vcs }
func hostsOf(l *Lookups) *map[string]expiring[[]string]     { return &l.hosts }

func (l *Lookups) serviceID(name string) (string, bool) { return get(l, servicesOf, name) }
func (l *Lookups) keepServiceID(name, clusterID string) {
	keep(l, servicesOf, name, clusterID)
}

func (l *Lookups) serviceFacts(clusterID string) (serviceFacts, bool) {
	return get(l, descsOf, clusterID)
}
func (l *Lookups) keepServiceFacts(clusterID string, f serviceFacts) {
	keep(l, descsOf, clusterID, f)
}

func (l *Lookups) clusterFacts(clusterID, vcID string) (clusterFacts, bool) {
	return get(l, vcsOf, vcKey{clusterID, vcID})
}
func (l *Lookups) keepClusterFacts(clusterID, vcID string, f clusterFacts) {
	keep(l, vcsOf, vcKey{clusterID, vcID}, f)
}

// idBrokerHosts is the kept host list of the environment, if fresh.
func (l *Lookups) idBrokerHosts(environmentCRN string) ([]string, bool) {
	hosts, ok := get(l, hostsOf, environmentCRN)
	return slices.Clone(hosts), ok
}

// keepIDBrokerHosts keeps a non-empty host list (an empty one is asked again: an idbroker that
// comes up is used by the next provision).
func (l *Lookups) keepIDBrokerHosts(environmentCRN string, hosts []string) {
	if len(hosts) > 0 {
		keep(l, hostsOf, environmentCRN, slices.Clone(hosts))
	}
}

// Forget drops what is kept of the virtual cluster of t and of its service (by id), and the
// idbroker hosts of its environment: the next check describes them anew.
func (l *Lookups) Forget(t Target) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for k := range l.vcs {
		if k.clusterID == t.ServiceID || k.vcID == t.VcID && t.VcID != "" {
			delete(l.vcs, k)
		}
	}
	delete(l.descs, t.ServiceID)
	for name, e := range l.services {
		if e.v == t.ServiceID {
			delete(l.services, name)
		}
	}
	delete(l.hosts, t.EnvironmentCRN)
}
