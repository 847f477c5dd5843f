package cdesim

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Status values the simulator gives meaning to (reference §1.5).
const (
	StatusServiceRunning = "ClusterCreationCompleted"
	StatusServiceDeleted = "ClusterDeletionCompleted"
	StatusVCRunning      = "AppInstalled"
	StatusVCDeleted      = "AppDeleted"
)

// Resource statuses (reference §2.6).
const (
	ResourceReady        = "ready"
	ResourcePendingBuild = "pending-build"
	ResourceBuilding     = "building"
	ResourceFailed       = "failed"
)

// PatchMode selects how PATCH /jobs/{name} applies its body (UNCONFIRMED in
// the reference).
type PatchMode string

const (
	// PatchMerge applies the body as an RFC 7386 JSON merge patch: objects
	// merge recursively, null removes a field, other values replace.
	PatchMerge PatchMode = "merge"
	// PatchReplace replaces the whole job with the body.
	PatchReplace PatchMode = "replace"
	// PatchFieldwise is what a server decoding the body into structs with
	// pointer fields does: a non-null field replaces the stored one, null
	// and absent fields keep it; the spark, schedule and airflow objects are
	// patched field by field, while maps (spark.conf) and arrays are
	// replaced whole.
	PatchFieldwise PatchMode = "fieldwise"
)

// Options tune the simulator. The zero value is usable: ephemeral ports on
// 127.0.0.1, real time, the defaults documented on each field.
type Options struct {
	// ListenIP is the IP every listener binds; it must be a loopback address.
	// Default 127.0.0.1.
	ListenIP string
	// ControlPlanePort is the control-plane port; 0 picks an ephemeral one.
	ControlPlanePort int
	// PortBase, when > 0, gives Knox (service) and jobs-API (virtual cluster)
	// listeners the ports PortBase, PortBase+1, ... in seed order (each
	// service, then its virtual clusters); services and VCs added later take
	// the following ports. 0 picks ephemeral ports.
	PortBase int

	// Now is the simulator's clock (token expiry, x-altus-date skew,
	// timestamps, python-env builds). Default time.Now. See ManualClock.
	Now func() time.Time
	// Logger receives one debug line per request (never secrets). Default:
	// discard.
	Logger *slog.Logger

	// MaxClockSkew is how far x-altus-date may be from Now. 0 means the
	// default, 15 minutes; a negative value disables the check.
	MaxClockSkew time.Duration
	// AuthFailureStatus is the HTTP status of a control-plane request whose
	// signature is missing or wrong. Default 401 (code UNAUTHENTICATED); 403
	// (code FORBIDDEN) is the other plausible choice.
	AuthFailureStatus int
	// DeletedServiceRetention is how long a deleted service
	// (ClusterDeletionCompleted) still appears in listServices with
	// removeDeleted=true, as "recently deleted" (witboost's validator expects
	// to see such services). 0 means the default, 1 hour; negative removes
	// deleted services at once. Seeded deleted services count as deleted at
	// start.
	DeletedServiceRetention time.Duration
	// EmptyListVcsStatus, when non-zero, is returned by listVcs for a
	// service without virtual clusters (cdpy reports 504 there). Default 0:
	// an empty list.
	EmptyListVcsStatus int

	// TokenTTL is the lifetime of Knox tokens. Default 1 hour.
	TokenTTL time.Duration
	// TokensAcrossServices makes a token issued by one service's Knox valid
	// on every virtual cluster. Default false: only on that service's VCs.
	TokensAcrossServices bool

	// DuplicateJobStatus is the status of POST /jobs with an existing name.
	// Default 409.
	DuplicateJobStatus int
	// Patch selects the PATCH /jobs/{name} semantics. Default PatchMerge.
	Patch PatchMode
	// SkipMountValidation accepts jobs whose mounts or
	// pythonEnvResourceName name missing resources. Default false: 400.
	SkipMountValidation bool

	// PythonEnvPending is how long a python-env stays pending-build after
	// its requirements.txt is uploaded. Default 1s.
	PythonEnvPending time.Duration
	// PythonEnvBuild is how long it then stays building. Default 3s.
	PythonEnvBuild time.Duration
	// PythonEnvStatusLag is how long, after requirements.txt is uploaded to
	// an environment that was built before, the status still reports that
	// build's outcome (ready or failed) before pending-build: a CDE whose
	// status lags behind the upload. Default 0; SetPythonEnvTiming
	// changes it while the simulator runs.
	PythonEnvStatusLag time.Duration
	// DigestOnlyUploads keeps only size and SHA-1 of uploaded files, not
	// their bytes (for big benchmark uploads); file downloads then fail (410 Gone).
	DigestOnlyUploads bool
	// KeepUploadsUpTo, with DigestOnlyUploads, still keeps the bytes of an
	// uploaded file of at most this many bytes, so that the small files a
	// client reads back (such as an upload manifest) can be downloaded while
	// big artifacts keep only size and digest. Default 0: none is kept.
	KeepUploadsUpTo int64
}

func (o Options) withDefaults() Options {
	if o.ListenIP == "" {
		o.ListenIP = "127.0.0.1"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxClockSkew == 0 {
		o.MaxClockSkew = 15 * time.Minute
	}
	if o.DeletedServiceRetention == 0 {
		o.DeletedServiceRetention = time.Hour
	}
	if o.AuthFailureStatus == 0 {
		o.AuthFailureStatus = http.StatusUnauthorized
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = time.Hour
	}
	if o.DuplicateJobStatus == 0 {
		o.DuplicateJobStatus = http.StatusConflict
	}
	if o.Patch == "" {
		o.Patch = PatchMerge
	}
	if o.PythonEnvPending == 0 {
		o.PythonEnvPending = time.Second
	}
	if o.PythonEnvBuild == 0 {
		o.PythonEnvBuild = 3 * time.Second
	}
	return o
}

// Sim is a running simulator. All methods are safe for concurrent use.
type Sim struct {
	opts   Options
	ip     net.IP
	ca     *authority
	tenant string
	cpURL  string

	mu        sync.Mutex
	closed    bool
	servers   []*http.Server
	nextPort  int
	services  []*service
	vcs       map[string]*vc // by vcId
	datalakes []*datalake
	keys      map[string]keyVerifier
	users     map[string]string
	tokens    map[string]*token
	// uploaded counts the file bytes read by upload handlers, per resource
	// name of each VC; kept apart from the resources so that deleting or
	// overwriting a file does not hide the traffic it caused.
	uploaded map[uploadKey]int64

	faults faults
	wg     sync.WaitGroup
}

type service struct {
	name, clusterID, crn         string
	envName, envCRN              string
	status, cloud, creator, fqdn string
	enabled, deletedAt           time.Time
	vcs                          []*vc
}

type vc struct {
	svc                        *service
	name, id, status           string
	sparkVersion, tier, apiURL string
	created                    time.Time
	jobs                       map[string]*job
	resources                  map[string]*resource
	runs                       []*jobRun
}

type datalake struct {
	name, crn, envName, envCRN, status, cloud string
	created                                   time.Time
	groups                                    []InstanceGroupSeed
}

type token struct {
	svc     *service
	user    string
	expires time.Time
}

// Start builds the simulator from seed and starts its listeners: the control
// plane, one Knox host per service and one jobs-API host per virtual cluster.
// ctx bounds only the start; stop the simulator with Close or Shutdown.
func Start(ctx context.Context, seed Seed, opts Options) (*Sim, error) {
	if err := seed.Validate(); err != nil {
		return nil, fmt.Errorf("invalid seed: %w", err)
	}
	opts = opts.withDefaults()
	ip := net.ParseIP(opts.ListenIP)
	if ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("listen IP %q: the simulator binds only loopback addresses", opts.ListenIP)
	}
	ca, err := newAuthority(ip, time.Now())
	if err != nil {
		return nil, err
	}
	s := &Sim{
		opts:     opts,
		ip:       ip,
		ca:       ca,
		tenant:   seed.Tenant,
		nextPort: opts.PortBase,
		vcs:      map[string]*vc{},
		keys:     map[string]keyVerifier{},
		users:    map[string]string{},
		tokens:   map[string]*token{},
		uploaded: map[uploadKey]int64{},
	}
	if s.tenant == "" {
		s.tenant = "cdesim-tenant"
	}
	s.faults.init()
	for _, k := range seed.APIKeys {
		v, _ := k.verifier() // validated above
		s.keys[k.AccessKeyID] = v
	}
	for _, u := range seed.WorkloadUsers {
		s.users[u.Name] = u.Password
	}
	for _, d := range seed.Datalakes {
		s.addDatalakeLocked(d)
	}

	ln, err := s.listen(ctx, opts.ControlPlanePort)
	if err != nil {
		return nil, fmt.Errorf("control plane: %w", err)
	}
	s.cpURL = "https://" + ln.Addr().String()
	s.serve(ln, "controlplane", http.HandlerFunc(s.serveControlPlane))

	for _, sv := range seed.Services {
		if _, err := s.addService(ctx, sv); err != nil {
			_ = s.Close()
			return nil, err
		}
	}
	return s, nil
}

// ControlPlaneURL is the CDP endpoint (CDP_ENDPOINT_URL), https://127.0.0.1:<port>.
func (s *Sim) ControlPlaneURL() string { return s.cpURL }

func (s *Sim) now() time.Time { return s.opts.Now().UTC() }

func (s *Sim) listen(ctx context.Context, port int) (net.Listener, error) {
	var lc net.ListenConfig
	addr := net.JoinHostPort(s.ip.String(), strconv.Itoa(port))
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln, nil
}

// nextListenPort hands out PortBase-derived ports; 0 means ephemeral.
func (s *Sim) nextListenPort() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.nextPort == 0 {
		return 0
	}
	p := s.nextPort
	s.nextPort++
	return p
}

func (s *Sim) serve(ln net.Listener, target string, h http.Handler) {
	srv := &http.Server{
		Handler:           s.middleware(target, ln.Addr().String(), h),
		TLSConfig:         s.ca.serverTLS(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.opts.Logger.Handler(), slog.LevelDebug),
		// The connection travels with each request, for Failure.Reset over HTTP/2.
		ConnContext: withConn,
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = ln.Close()
		return
	}
	s.servers = append(s.servers, srv)
	s.wg.Add(1) // under mu, so never after Shutdown's Wait began
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		_ = srv.ServeTLS(ln, "", "")
	}()
}

// Shutdown stops accepting requests and waits for in-flight ones (blocked
// routes are released first) until ctx ends.
func (s *Sim) Shutdown(ctx context.Context) error {
	s.faults.releaseAll()
	s.mu.Lock()
	s.closed = true
	servers := append([]*http.Server(nil), s.servers...)
	s.mu.Unlock()
	// In parallel: each HTTP/2 connection may take a second to go away.
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		wg.Go(func() {
			if err := srv.Shutdown(ctx); err != nil {
				errs[i] = err
				_ = srv.Close()
			}
		})
	}
	wg.Wait()
	s.wg.Wait()
	return errors.Join(errs...)
}

// Close stops the simulator at once: listeners and connections are closed and
// in-flight requests are cut off (use Shutdown to drain them).
func (s *Sim) Close() error {
	s.faults.releaseAll()
	s.mu.Lock()
	s.closed = true
	servers := append([]*http.Server(nil), s.servers...)
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		if err := srv.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	s.wg.Wait()
	return errors.Join(errs...)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }
