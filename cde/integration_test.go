package cde_test

// Integration tests: the real client against the independent simulator
// (package cdesim, which does not import cde), over HTTPS with the
// simulator's CA and its real wire protocols (signed control plane, Knox,
// jobs API). The simulator's clock and the client's clocks are one
// cdesim.ManualClock, so token expiry, x-altus-date and python-env builds
// move only when a test advances it: nothing here sleeps to wait.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

// simEpoch is where every test's clock starts: a fixed instant, so that
// nothing depends on when the test runs.
var simEpoch = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// simEnv is a simulator and the three real clients wired to it the way the
// provisioner wires them: CDP client → service and VC lookup → Knox token
// source for the service host → jobs client for the VC's vcApiUrl. They send
// every request once (NoRetry), so that one injected fault is one error; the
// retries are tested in retry_test.go.
type simEnv struct {
	sim   *cdesim.Sim
	clock *cdesim.ManualClock
	hc    *http.Client // trusts the simulator's CA only
	cdp   *cde.CDPClient
	knox  *cde.KnoxTokenSource
	svc   cde.ServiceDescription
	vc    cde.VcDescription
	jobs  *cde.JobsClient

	secretsMu sync.Mutex
	secrets   []string // must never appear in an error
}

// startEnv starts a simulator from seed with opts (its clock replaced by a
// ManualClock) and discovers cde-dev / vc-dev through the control plane.
func startEnv(t *testing.T, seed cdesim.Seed, opts cdesim.Options) *simEnv {
	t.Helper()
	clock := cdesim.NewManualClock(simEpoch)
	opts.Now = clock.Now
	sim := cdesim.StartForTest(t, seed, opts)
	e := &simEnv{sim: sim, clock: clock, hc: sim.Client()}
	e.addSecret(cdesim.DemoPrivateKey, cdesim.DemoPassword)
	for _, k := range seed.APIKeys {
		e.addSecret(k.PrivateKey)
	}
	for _, u := range seed.WorkloadUsers {
		e.addSecret(u.Password)
	}
	ctx := context.Background()
	e.cdp = e.newCDP(t, cdesim.DemoAccessKeyID, cdesim.DemoPrivateKey)
	summary, err := e.cdp.FindService(ctx, cdesim.DemoService)
	e.noErr(t, "find service", err)
	desc, err := e.cdp.DescribeService(ctx, summary.ClusterID)
	e.noErr(t, "describe service", err)
	vcSummary, err := e.cdp.FindVc(ctx, desc.ClusterID, cdesim.DemoVC)
	e.noErr(t, "find vc", err)
	vc, err := e.cdp.DescribeVc(ctx, desc.ClusterID, vcSummary.VcID)
	e.noErr(t, "describe vc", err)
	e.svc, e.vc = *desc, *vc
	e.knox = e.newKnox(t, cdesim.DemoUser, cdesim.DemoPassword, clock.Now)
	e.jobs = e.newJobs(t, e.knox)
	return e
}

func (e *simEnv) newCDP(t *testing.T, accessKeyID, privateKey string) *cde.CDPClient {
	t.Helper()
	c, err := cde.NewCDPClient(cde.CDPConfig{
		Endpoint: e.sim.ControlPlaneURL(), AccessKeyID: accessKeyID, PrivateKey: privateKey,
		HTTPClient: e.hc, Now: e.clock.Now, Retry: cde.NoRetry,
	})
	if err != nil {
		t.Fatalf("NewCDPClient: %v", err)
	}
	return c
}

func (e *simEnv) newKnox(t *testing.T, user, password string, now func() time.Time) *cde.KnoxTokenSource {
	t.Helper()
	k, err := cde.NewKnoxTokenSource(cde.KnoxConfig{User: user, Password: password, HTTPClient: e.hc, Now: now, Retry: cde.NoRetry})
	if err != nil {
		t.Fatalf("NewKnoxTokenSource: %v", err)
	}
	return k
}

func (e *simEnv) newJobs(t *testing.T, knox *cde.KnoxTokenSource) *cde.JobsClient {
	t.Helper()
	j, err := cde.NewJobsClient(e.vc.VcAPIURL, knox.ForHost(e.svc.ClusterFqdn), e.hc, cde.WithRetryPolicy(cde.NoRetry))
	if err != nil {
		t.Fatalf("NewJobsClient: %v", err)
	}
	return j
}

// addSecret registers values that no error may contain.
func (e *simEnv) addSecret(ss ...string) {
	e.secretsMu.Lock()
	defer e.secretsMu.Unlock()
	for _, s := range ss {
		if s != "" {
			e.secrets = append(e.secrets, s)
		}
	}
}

// token returns the token the jobs client currently uses (and registers it
// as a secret).
func (e *simEnv) token(t *testing.T) string {
	t.Helper()
	tok, err := e.knox.Token(context.Background(), e.svc.ClusterFqdn)
	e.noErr(t, "knox token", err)
	e.addSecret(tok)
	return tok
}

// checkNoSecret fails if any rendering of err holds a registered secret or
// a recognisable piece of one (a PEM body line, a token's signature part).
func (e *simEnv) checkNoSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	e.secretsMu.Lock()
	secrets := slices.Clone(e.secrets)
	e.secretsMu.Unlock()
	renderings := []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)}
	for _, s := range secrets {
		for _, piece := range secretPieces(s) {
			if i := slices.IndexFunc(renderings, func(r string) bool { return strings.Contains(r, piece) }); i >= 0 {
				t.Errorf("error rendering %q contains secret material %q", renderings[i], piece)
				return
			}
		}
	}
}

// secretPieces is the secret itself and, for multi-line or dotted secrets
// (PEM keys, JWT-shaped tokens), each long line or segment: a leak of one
// PEM line is a leak.
func secretPieces(s string) []string {
	pieces := []string{s}
	for _, sep := range []string{"\n", "."} {
		for p := range strings.SplitSeq(s, sep) {
			p = strings.TrimSpace(p)
			if len(p) >= 16 && !strings.HasPrefix(p, "-----") {
				pieces = append(pieces, p)
			}
		}
	}
	return pieces
}

// noErr fails the test on err, after checking it for secrets.
func (e *simEnv) noErr(t *testing.T, what string, err error) {
	t.Helper()
	e.checkNoSecret(t, err)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// requests returns the simulator's log entries for target ("controlplane",
// "knox:<service>", "vc:<vcId>").
func (e *simEnv) requests(target string) []cdesim.RequestRecord {
	var out []cdesim.RequestRecord
	for _, r := range e.sim.Requests() {
		if r.Target == target {
			out = append(out, r)
		}
	}
	return out
}

func (e *simEnv) knoxTarget() string { return "knox:" + e.svc.Name }
func (e *simEnv) vcTarget() string   { return "vc:" + e.vc.VcID }

// calls renders log entries as "METHOD path status", the evidence a test
// prints and compares.
func calls(recs []cdesim.RequestRecord) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%s %s %d", r.Method, strings.TrimPrefix(r.Path, "/dex/api/v1"), r.Status))
	}
	return out
}

func apiError(t *testing.T, err error) *cde.APIError {
	t.Helper()
	apiErr, ok := errors.AsType[*cde.APIError](err)
	if !ok {
		t.Fatalf("err = %v (%T), want an *APIError", err, err)
	}
	return apiErr
}

// ---- Control plane

// rsaKeyPEM returns a fresh RSA key as the PKCS#8 PEM of CDP_PRIVATE_KEY.
func rsaKeyPEM(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func ed25519Seed(t *testing.T) string {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(seed)
}

func ed25519PKCS8PEM(t *testing.T, seedB64 string) string {
	t.Helper()
	seed, err := base64.StdEncoding.DecodeString(seedB64)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func TestIntegrationSignedControlPlaneCalls(t *testing.T) {
	rsaPEM, otherRSAPEM := rsaKeyPEM(t), rsaKeyPEM(t)
	wrongSeed, pemSeed := ed25519Seed(t), ed25519Seed(t)
	seed := cdesim.DemoSeed()
	seed.APIKeys = append(seed.APIKeys,
		cdesim.APIKeySeed{AccessKeyID: "rsa-key", PrivateKey: rsaPEM},
		cdesim.APIKeySeed{AccessKeyID: "ed25519-pem-key", PrivateKey: ed25519PKCS8PEM(t, pemSeed)})

	tests := []struct {
		name          string
		failureStatus int // Options.AuthFailureStatus; 0 = the default 401
		accessKeyID   string
		privateKey    string
		wantStatus    int // 0: success
		wantSentinel  error
	}{
		{name: "ed25519 seed signs a call the server verifies", accessKeyID: cdesim.DemoAccessKeyID, privateKey: cdesim.DemoPrivateKey},
		{name: "rsa pkcs8 key signs a call the server verifies", accessKeyID: "rsa-key", privateKey: rsaPEM},
		{name: "rsa pkcs8 key on one line with literal \\n signs too", accessKeyID: "rsa-key", privateKey: strings.ReplaceAll(rsaPEM, "\n", `\n`)},
		{name: "ed25519 key as pkcs8 pem signs too", accessKeyID: "ed25519-pem-key", privateKey: ed25519PKCS8PEM(t, pemSeed)},
		{name: "wrong ed25519 key for the access key is 401", accessKeyID: cdesim.DemoAccessKeyID, privateKey: wrongSeed,
			wantStatus: 401, wantSentinel: cde.ErrUnauthorized},
		{name: "wrong rsa key for the access key is 401", accessKeyID: "rsa-key", privateKey: otherRSAPEM,
			wantStatus: 401, wantSentinel: cde.ErrUnauthorized},
		{name: "key of the wrong type for the access key is 401", accessKeyID: "rsa-key", privateKey: cdesim.DemoPrivateKey,
			wantStatus: 401, wantSentinel: cde.ErrUnauthorized},
		{name: "unknown access key id is 401", accessKeyID: "no-such-key", privateKey: cdesim.DemoPrivateKey,
			wantStatus: 401, wantSentinel: cde.ErrUnauthorized},
		{name: "a server answering 403 to a wrong key gives ErrForbidden", failureStatus: 403, accessKeyID: cdesim.DemoAccessKeyID,
			privateKey: wrongSeed, wantStatus: 403, wantSentinel: cde.ErrForbidden},
	}
	// One simulator per failure status, started here so that it outlives
	// the subtests.
	envs := map[int]*simEnv{}
	for _, tt := range tests {
		if envs[tt.failureStatus] == nil {
			envs[tt.failureStatus] = startEnv(t, seed, cdesim.Options{AuthFailureStatus: tt.failureStatus})
		}
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := envs[tt.failureStatus]
			e.addSecret(tt.privateKey, rsaPEM, otherRSAPEM, wrongSeed, pemSeed)
			c := e.newCDP(t, tt.accessKeyID, tt.privateKey)
			services, err := c.ListServices(context.Background(), true)
			e.checkNoSecret(t, err)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("ListServices: %v", err)
				}
				if !slices.ContainsFunc(services, func(s cde.ServiceSummary) bool { return s.Name == cdesim.DemoService }) {
					t.Errorf("services = %+v, want %s among them", services, cdesim.DemoService)
				}
				return
			}
			apiErr := apiError(t, err)
			if apiErr.Status != tt.wantStatus || !errors.Is(err, tt.wantSentinel) {
				t.Errorf("err = %v, want status %d matching %v", err, tt.wantStatus, tt.wantSentinel)
			}
			if cde.IsTransient(err) {
				t.Errorf("IsTransient(%v) = true: a wrong key stays wrong", err)
			}
			if apiErr.RequestID == "" || apiErr.Op != "listServices" {
				t.Errorf("APIError = %+v, want op listServices and the x-altus-request-id", apiErr)
			}
		})
	}
}

// Like the demo seed, plus a deleted service and a deleted VC named as the
// running ones, as after a re-creation in CDP.
func seedWithDuplicates() cdesim.Seed {
	seed := cdesim.DemoSeed()
	seed.Services = append(seed.Services, cdesim.ServiceSeed{
		Name: cdesim.DemoService, ClusterID: "cluster-dev-deleted",
		EnvironmentName: cdesim.DemoEnvironment, EnvironmentCRN: cdesim.DemoEnvironmentCRN,
		Status: cdesim.StatusServiceDeleted,
	})
	seed.Services[0].VirtualClusters = append(seed.Services[0].VirtualClusters,
		cdesim.VCSeed{Name: cdesim.DemoVC, VCID: "dex-app-dev-deleted", Status: cdesim.StatusVCDeleted})
	// Deleted entries come first, so that "take the first match" would be wrong.
	slices.Reverse(seed.Services[0].VirtualClusters)
	seed.Services = append(seed.Services[len(seed.Services)-1:], seed.Services[:len(seed.Services)-1]...)
	return seed
}

func TestIntegrationFindServiceAndVc(t *testing.T) {
	e := startEnv(t, seedWithDuplicates(), cdesim.Options{})
	ctx := context.Background()

	serviceTests := []struct {
		name          string
		service       string
		wantClusterID string
		wantStatus    string
		wantErr       error
	}{
		{"running service wins over a recently deleted one of the same name", cdesim.DemoService, "cluster-dev00001", cde.ServiceStatusRunning, nil},
		{"recently deleted service is found and reported deleted", "cde-old", "cluster-old00001", cde.ServiceStatusDeleted, nil},
		{"unknown service is not found", "cde-nope", "", "", cde.ErrNotFound},
	}
	for _, tt := range serviceTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.cdp.FindService(ctx, tt.service)
			e.checkNoSecret(t, err)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.ClusterID != tt.wantClusterID || got.Status != tt.wantStatus {
				t.Fatalf("FindService = %+v, %v; want %s in %s", got, err, tt.wantClusterID, tt.wantStatus)
			}
		})
	}

	vcTests := []struct {
		name       string
		clusterID  string
		vc         string
		wantVcID   string
		wantStatus string
		wantErr    error
	}{
		{"running VC wins over a deleted one of the same name", "cluster-dev00001", cdesim.DemoVC, "dex-app-dev00001", cde.VcStatusRunning, nil},
		{"VC still being installed is found and reported not running", "cluster-stg00001", "vc-stage", "dex-app-stg00001", "AppInstalling", nil},
		{"VC of a deleted service is reported deleted", "cluster-old00001", "vc-old", "dex-app-old00001", cde.VcStatusDeleted, nil},
		{"unknown VC is not found", "cluster-dev00001", "vc-nope", "", "", cde.ErrNotFound},
		{"VC of an unknown service is not found", "cluster-nope", cdesim.DemoVC, "", "", cde.ErrNotFound},
	}
	for _, tt := range vcTests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e.cdp.FindVc(ctx, tt.clusterID, tt.vc)
			e.checkNoSecret(t, err)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || cde.IsTransient(err) {
					t.Fatalf("err = %v, want %v and not transient", err, tt.wantErr)
				}
				return
			}
			if err != nil || got.VcID != tt.wantVcID || got.Status != tt.wantStatus {
				t.Fatalf("FindVc = %+v, %v; want %s in %s", got, err, tt.wantVcID, tt.wantStatus)
			}
			if tt.wantStatus == cde.VcStatusRunning {
				vc, err := e.cdp.DescribeVc(ctx, tt.clusterID, got.VcID)
				e.noErr(t, "describe vc", err)
				want, _ := e.sim.VC(cdesim.DemoService, tt.vc)
				if vc.VcAPIURL != want.APIURL {
					t.Errorf("vcApiUrl = %q, want %q", vc.VcAPIURL, want.APIURL)
				}
			}
		})
	}

	t.Run("service description gives the Knox host and environment of the running service", func(t *testing.T) {
		want, _ := e.sim.Service(cdesim.DemoService)
		if e.svc.ClusterID != want.ClusterID || e.svc.ClusterFqdn != want.ClusterFqdn || e.svc.EnvironmentCrn != cdesim.DemoEnvironmentCRN {
			t.Errorf("service = %+v, want clusterId %s, clusterFqdn %s, environmentCrn %s", e.svc, want.ClusterID, want.ClusterFqdn, cdesim.DemoEnvironmentCRN)
		}
	})
	t.Run("idbroker hosts of the demo datalake in listed order", func(t *testing.T) {
		ips, err := e.cdp.IDBrokerHosts(ctx, e.svc.EnvironmentCrn)
		e.noErr(t, "idbroker hosts", err)
		if want := []string{"10.10.1.10", "10.10.1.11"}; !slices.Equal(ips, want) {
			t.Errorf("IDBrokerHosts = %v, want %v", ips, want)
		}
	})
	t.Run("idbroker hosts of an environment without datalake is not found", func(t *testing.T) {
		_, err := e.cdp.IDBrokerHosts(ctx, "crn:cdp:environments:us-west-1:cdesim-tenant:environment:none")
		if !errors.Is(err, cde.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("a service deleted meanwhile is then reported deleted", func(t *testing.T) {
		if err := e.sim.SetServiceStatus("cluster-stg00001", cdesim.StatusServiceDeleted); err != nil {
			t.Fatal(err)
		}
		got, err := e.cdp.FindService(ctx, "cde-stage")
		e.noErr(t, "find service", err)
		if got.Status != cde.ServiceStatusDeleted {
			t.Errorf("status = %q, want %q", got.Status, cde.ServiceStatusDeleted)
		}
	})
}

// ---- Knox

func TestIntegrationKnoxTokens(t *testing.T) {
	ctx := context.Background()
	const ttl = time.Hour

	t.Run("token of the workload user opens the jobs API", func(t *testing.T) {
		e := startEnv(t, cdesim.DemoSeed(), cdesim.Options{TokenTTL: ttl})
		tok := e.token(t)
		if tok == "" {
			t.Fatal("empty token")
		}
		_, err := e.jobs.ListJobs(ctx)
		e.noErr(t, "list jobs", err)
		if got := len(e.requests(e.knoxTarget())); got != 1 {
			t.Errorf("%d Knox requests, want 1 (the token is cached)", got)
		}
	})

	t.Run("wrong password is an auth error without the password", func(t *testing.T) {
		e := startEnv(t, cdesim.DemoSeed(), cdesim.Options{TokenTTL: ttl})
		const wrong = "not-the-password-0123456789"
		e.addSecret(wrong)
		jobs := e.newJobs(t, e.newKnox(t, cdesim.DemoUser, wrong, e.clock.Now))
		_, err := jobs.GetJob(ctx, "any")
		e.checkNoSecret(t, err)
		apiErr := apiError(t, err)
		if apiErr.Op != "knoxToken" || apiErr.Status != 401 || !errors.Is(err, cde.ErrUnauthorized) || cde.IsTransient(err) {
			t.Errorf("err = %v, want a non-transient knoxToken 401", err)
		}
		if got := e.requests(e.vcTarget()); len(got) != 0 {
			t.Errorf("jobs API called without a token: %v", calls(got))
		}
	})

	tests := []struct {
		name      string
		advance   time.Duration // of the shared clock, after a first call
		wantKnox  int           // Knox fetches in total
		wantCalls []string      // jobs API requests of the second call
	}{
		{"cached token is reused well before expiry", ttl / 2, 1, []string{"GET /jobs 200"}},
		{"token is refreshed within the margin before expiry, never refused", ttl - cde.DefaultKnoxRefreshMargin + time.Second, 2, []string{"GET /jobs 200"}},
		{"token past its TTL is replaced before use", ttl + time.Minute, 2, []string{"GET /jobs 200"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := startEnv(t, cdesim.DemoSeed(), cdesim.Options{TokenTTL: ttl})
			first := e.token(t)
			_, err := e.jobs.ListJobs(ctx)
			e.noErr(t, "first list", err)
			e.clock.Advance(tt.advance)
			e.sim.ResetRequests()
			_, err = e.jobs.ListJobs(ctx)
			e.noErr(t, "second list", err)
			knox := len(e.requests(e.knoxTarget())) + 1 // the first fetch was before the reset
			if knox != tt.wantKnox {
				t.Errorf("%d Knox fetches, want %d", knox, tt.wantKnox)
			}
			if got := calls(e.requests(e.vcTarget())); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("jobs API calls = %v, want %v", got, tt.wantCalls)
			}
			if second := e.token(t); (second != first) != (tt.wantKnox > 1) {
				t.Errorf("token changed = %v, want %v", second != first, tt.wantKnox > 1)
			}
		})
	}

	refused := []struct {
		name      string
		setup     func(e *simEnv)
		wantErr   bool
		wantCalls []string
	}{
		{"a 401 from the jobs API refreshes the token once and succeeds",
			func(e *simEnv) { e.sim.FailNext("GET /dex/api/v1/jobs/*", 1, cdesim.Failure{Status: 401}) },
			false, []string{"GET /jobs/j 401", "GET /jobs/j 404"}},
		{"a token the server expired (clocks apart) is refused, refreshed and retried",
			func(e *simEnv) {
				// Only the server's clock moves: the client still trusts its cache.
				e.clock.Advance(2 * ttl)
			},
			false, []string{"GET /jobs/j 401", "GET /jobs/j 404"}},
		{"a second 401 is returned, not retried forever",
			func(e *simEnv) { e.sim.FailNext("GET /dex/api/v1/jobs/*", 2, cdesim.Failure{Status: 401}) },
			true, []string{"GET /jobs/j 401", "GET /jobs/j 401"}},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			e := startEnv(t, cdesim.DemoSeed(), cdesim.Options{TokenTTL: ttl})
			// The client's cache runs on its own clock here, frozen at the
			// start, so that a server-side expiry is a surprise to it.
			clientClock := cdesim.NewManualClock(simEpoch)
			knox := e.newKnox(t, cdesim.DemoUser, cdesim.DemoPassword, clientClock.Now)
			jobs := e.newJobs(t, knox)
			first, err := knox.Token(ctx, e.svc.ClusterFqdn)
			e.noErr(t, "first token", err)
			e.addSecret(first)
			tt.setup(e)
			e.sim.ResetRequests()
			_, err = jobs.GetJob(ctx, "j")
			e.checkNoSecret(t, err)
			if got := calls(e.requests(e.vcTarget())); !slices.Equal(got, tt.wantCalls) {
				t.Errorf("jobs API calls = %v, want %v", got, tt.wantCalls)
			}
			if got := len(e.requests(e.knoxTarget())); got != 1 {
				t.Errorf("%d Knox fetches after the refusal, want exactly 1", got)
			}
			if tt.wantErr {
				if !errors.Is(err, cde.ErrUnauthorized) || cde.IsTransient(err) {
					t.Errorf("err = %v, want a non-transient 401", err)
				}
				return
			}
			if !errors.Is(err, cde.ErrNotFound) { // the retried call reached the API
				t.Errorf("err = %v, want the retried call's 404", err)
			}
			second, err := knox.Token(ctx, e.svc.ClusterFqdn)
			e.noErr(t, "second token", err)
			if second == first {
				t.Error("the refused token is still cached")
			}
		})
	}
}

// ---- UpdateJob under every PATCH semantics

// Jobs of the update table. Each test derives its jobs from these, so
// that rows stay independent.
func scalaJob(name string) cde.Job {
	return cde.Job{
		Name: name, Type: cde.JobTypeSpark, RetentionPolicy: cde.RetentionKeepIndefinitely,
		Mounts: []cde.Mount{{ResourceName: "mainres"}, {ResourceName: "libres"}},
		Spark: &cde.SparkJob{
			File: "app.jar", ClassName: "com.example.Main", Args: []string{"--date", "2024-01-01"},
			Conf: map[string]string{"dex.safariEnabled": "true", "spark.cde.idBrokerHosts": "10.10.1.10,10.10.1.11", "user.key": "v1"},
			Jars: []string{"dep.jar", "other.jar"}, DriverCores: 1, DriverMemory: "1g", ExecutorCores: 1, ExecutorMemory: "1g",
			NumExecutors: 2, LogLevel: "INFO",
		},
		Schedule: &cde.Schedule{Enabled: true, CronExpression: "0 * * * *", Start: "2024-05-19T09:00:34Z", End: "2030-05-20T12:00:00Z"},
	}
}

func pysparkJob(name string) cde.Job {
	j := scalaJob(name)
	j.Mounts = []cde.Mount{{ResourceName: "mainres"}}
	j.Spark = &cde.SparkJob{
		File: "main.py", PyFiles: []string{"util.py"}, PythonEnvResourceName: "pyenv",
		Conf:        map[string]string{"dex.safariEnabled": "true", "spark.pyspark.python": "python3"},
		DriverCores: 1, DriverMemory: "1g", ExecutorCores: 1, ExecutorMemory: "1g", NumExecutors: 1, LogLevel: "INFO",
	}
	return j
}

// normalizeJob keeps what a job means: server-owned timestamps go, and an
// empty list, map or disabled-and-empty schedule equals an absent one (the
// only way to clear a list under a struct-decoding PATCH is to send []).
func normalizeJob(j cde.Job) cde.Job {
	j.Created, j.Modified, j.LastUsed = "", "", ""
	if len(j.Mounts) == 0 {
		j.Mounts = nil
	}
	if j.Spark != nil {
		s := *j.Spark
		if len(s.Args) == 0 {
			s.Args = nil
		}
		if len(s.Conf) == 0 {
			s.Conf = nil
		}
		if len(s.Jars) == 0 {
			s.Jars = nil
		}
		if len(s.PyFiles) == 0 {
			s.PyFiles = nil
		}
		if len(s.Files) == 0 {
			s.Files = nil
		}
		j.Spark = &s
	}
	if j.Schedule != nil {
		s := *j.Schedule
		s.NextExecution = ""
		j.Schedule = &s
		if s == (cde.Schedule{}) {
			j.Schedule = nil
		}
	}
	return j
}

func jobJSON(j cde.Job) string {
	b, _ := json.Marshal(j)
	return string(b)
}

func TestIntegrationUpdateJobConvergesUnderEveryPatchSemantics(t *testing.T) {
	// removesVerified: the update drops a member only null removes and
	// whose stale value changes what runs, so UpdateJob reads the job back,
	// and a fieldwise server (which ignored the null) gets it re-created.
	rows := []struct {
		name            string
		from, to        func(name string) cde.Job
		removesVerified bool
	}{
		{"unchanged job", scalaJob, scalaJob, false},
		{"conf keys added and removed", scalaJob, func(n string) cde.Job {
			j := scalaJob(n)
			delete(j.Spark.Conf, "user.key")
			j.Spark.Conf["new.key"] = "v2"
			j.Spark.Conf["dex.safariEnabled"] = "false"
			return j
		}, false},
		{"all conf and args removed", scalaJob, func(n string) cde.Job {
			j := scalaJob(n)
			j.Spark.Conf, j.Spark.Args = nil, nil
			return j
		}, false},
		{"jars removed", scalaJob, func(n string) cde.Job {
			j := scalaJob(n)
			j.Spark.Jars = nil
			return j
		}, false},
		{"one mount removed", scalaJob, func(n string) cde.Job {
			j := scalaJob(n)
			j.Mounts = j.Mounts[:1]
			return j
		}, false},
		{"className removed when switching to PySpark", scalaJob, pysparkJob, true},
		{"python env removed from a PySpark job", pysparkJob, func(n string) cde.Job {
			j := pysparkJob(n)
			j.Spark.PythonEnvResourceName = ""
			return j
		}, true},
		{"switch back from PySpark to a jar job", pysparkJob, scalaJob, true},
		{"schedule removed", scalaJob, func(n string) cde.Job {
			j := scalaJob(n)
			j.Schedule = nil
			return j
		}, true},
		{"schedule disabled as the provisioner sends it", scalaJob, func(n string) cde.Job {
			j := scalaJob(n)
			j.Schedule = &cde.Schedule{Enabled: false}
			return j
		}, true},
		{"schedule changed and its end dropped", scalaJob, func(n string) cde.Job {
			j := scalaJob(n)
			j.Schedule = &cde.Schedule{Enabled: true, CronExpression: "30 2 * * *", Start: "2025-01-01T00:00:00Z"}
			return j
		}, true},
		{"schedule added", func(n string) cde.Job {
			j := scalaJob(n)
			j.Schedule = nil
			return j
		}, scalaJob, false},
		{"paused schedule flag set", scalaJob, func(n string) cde.Job {
			j := scalaJob(n)
			j.Schedule.Paused = new(true)
			return j
		}, false},
	}
	for _, mode := range []cdesim.PatchMode{cdesim.PatchMerge, cdesim.PatchFieldwise, cdesim.PatchReplace} {
		t.Run(string(mode), func(t *testing.T) {
			e := startEnv(t, cdesim.DemoSeed(), cdesim.Options{Patch: mode})
			for _, r := range []struct{ name, typ string }{{"mainres", "files"}, {"libres", "files"}, {"pyenv", "python-env"}} {
				if err := e.sim.AddResource(e.vc.VcID, r.name, r.typ, map[bool]string{true: "python3"}[r.typ == "python-env"]); err != nil {
					t.Fatal(err)
				}
			}
			ctx := context.Background()
			for i, row := range rows {
				t.Run(row.name, func(t *testing.T) {
					name := fmt.Sprintf("job-%d", i)
					from, to := row.from(name), row.to(name)
					e.noErr(t, "create", e.jobs.CreateJob(ctx, from))
					e.sim.ResetRequests()
					e.noErr(t, "update", e.jobs.UpdateJob(ctx, to))
					evidence := calls(e.requests(e.vcTarget()))
					got, err := e.jobs.GetJob(ctx, name)
					e.noErr(t, "get", err)
					if g, w := normalizeJob(*got), normalizeJob(to); !reflect.DeepEqual(g, w) {
						t.Errorf("stored job after %v\n got  %s\n want %s", evidence, jobJSON(g), jobJSON(w))
					}
					want := []string{"GET /jobs/" + name + " 200", "PATCH /jobs/" + name + " 200"}
					if row.removesVerified {
						want = append(want, "GET /jobs/"+name+" 200")
						if mode == cdesim.PatchFieldwise {
							want = append(want, "DELETE /jobs/"+name+" 204", "POST /jobs 201")
						}
					}
					if !slices.Equal(evidence, want) {
						t.Errorf("requests = %v, want %v", evidence, want)
					}
					t.Logf("%s: %v", mode, evidence)
				})
			}
		})
	}
}

// ---- Jobs and resources

// plainReader hides every method but Read (no Seek, no WriterTo), as an
// S3 object body would: the upload must stream it once.
type plainReader struct{ r io.Reader }

func (p *plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

// content returns n deterministic, non-repeating-looking bytes.
func content(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>9 + i>>17)
	}
	return b
}

func sha1Hex(b []byte) string {
	sum := sha1.Sum(b)
	return hex.EncodeToString(sum[:])
}

// step is one stage of a sequential scenario; later steps build on
// earlier ones, so the first failure stops the scenario.
type step struct {
	name string
	run  func(t *testing.T)
}

func runSteps(t *testing.T, steps []step) {
	t.Helper()
	for _, s := range steps {
		if !t.Run(s.name, s.run) {
			return
		}
	}
}

func TestIntegrationJobsAndResourcesEndToEnd(t *testing.T) {
	e := startEnv(t, cdesim.DemoSeed(), cdesim.Options{})
	ctx := context.Background()
	const res = "mainres-5d41402abc4b2a76b9719d911017c592"
	big := content(5<<20 + 12345) // several MiB, not a multiple of any buffer size
	dep := content(4096)
	job := cde.Job{
		Name: "cmp-name-dev", Type: cde.JobTypeSpark, RetentionPolicy: cde.RetentionKeepIndefinitely,
		Mounts: []cde.Mount{{ResourceName: res}},
		Spark: &cde.SparkJob{File: "app.jar", ClassName: "com.example.Main", Jars: []string{"lib/dep.jar"},
			Conf: map[string]string{"dex.safariEnabled": "true"}, DriverCores: 1, DriverMemory: "1g",
			ExecutorCores: 1, ExecutorMemory: "1g", NumExecutors: 1, LogLevel: "INFO"},
		Schedule: &cde.Schedule{Enabled: true, CronExpression: "0 * * * *", Start: "2024-05-19T09:00:34Z"},
	}
	wantNotFound := func(t *testing.T, what string, err error) {
		t.Helper()
		e.checkNoSecret(t, err)
		if !errors.Is(err, cde.ErrNotFound) || apiError(t, err).Status != 404 || cde.IsTransient(err) {
			t.Errorf("%s: err = %v, want a non-transient 404", what, err)
		}
	}
	wantConflict := func(t *testing.T, what string, err error) {
		t.Helper()
		e.checkNoSecret(t, err)
		if !errors.Is(err, cde.ErrConflict) || apiError(t, err).Status != 409 || cde.IsTransient(err) {
			t.Errorf("%s: err = %v, want a non-transient 409", what, err)
		}
	}

	runSteps(t, []step{
		{"a missing resource is not found", func(t *testing.T) {
			_, err := e.jobs.GetResource(ctx, res)
			wantNotFound(t, "get resource", err)
		}},
		{"files resource is created and ready at once", func(t *testing.T) {
			e.noErr(t, "create", e.jobs.CreateResource(ctx, cde.CreateResourceRequest{Name: res, Type: cde.ResourceTypeFiles, RetentionPolicy: cde.RetentionKeepIndefinitely}))
			got, err := e.jobs.GetResource(ctx, res)
			e.noErr(t, "get", err)
			if got.Name != res || got.Type != cde.ResourceTypeFiles || got.Status != cde.ResourceStatusReady || got.RetentionPolicy != cde.RetentionKeepIndefinitely || len(got.Files) != 0 {
				t.Errorf("resource = %+v", got)
			}
		}},
		{"creating the resource again is a conflict", func(t *testing.T) {
			wantConflict(t, "create resource", e.jobs.CreateResource(ctx, cde.CreateResourceRequest{Name: res, Type: cde.ResourceTypeFiles}))
		}},
		{"a multi-MiB plain reader is streamed and stored byte for byte", func(t *testing.T) {
			e.noErr(t, "upload", e.jobs.UploadFile(ctx, res, "app.jar", &plainReader{bytes.NewReader(big)}, int64(len(big))))
			stored, ok := e.sim.FileBytes(e.vc.VcID, res, "app.jar")
			if !ok || !bytes.Equal(stored, big) {
				t.Errorf("stored %d bytes (ok %v), want the %d uploaded ones", len(stored), ok, len(big))
			}
		}},
		{"a nested file of unknown size is uploaded chunked", func(t *testing.T) {
			e.noErr(t, "upload", e.jobs.UploadFile(ctx, res, "lib/dep.jar", bytes.NewReader(dep), -1))
			if stored, ok := e.sim.FileBytes(e.vc.VcID, res, "lib/dep.jar"); !ok || !bytes.Equal(stored, dep) {
				t.Errorf("stored %d bytes (ok %v), want %d", len(stored), ok, len(dep))
			}
		}},
		{"the resource reports each file's size and signature", func(t *testing.T) {
			got, err := e.jobs.GetResource(ctx, res)
			e.noErr(t, "get", err)
			want := []cde.ResourceFile{{Path: "app.jar", SizeBytes: int64(len(big)), Signature: sha1Hex(big)}, {Path: "lib/dep.jar", SizeBytes: int64(len(dep)), Signature: sha1Hex(dep)}}
			if len(got.Files) != len(want) {
				t.Fatalf("files = %+v, want %+v", got.Files, want)
			}
			for i, f := range got.Files {
				if f.Path != want[i].Path || f.SizeBytes != want[i].SizeBytes || f.Signature != want[i].Signature || f.Created == "" {
					t.Errorf("file %d = %+v, want %+v", i, f, want[i])
				}
			}
			info, err := e.sim.Resource(e.vc.VcID, res)
			if err != nil || got.Signature == "" || got.Signature != info.Signature {
				t.Errorf("resource signature = %q, simulator has %q (%v)", got.Signature, info.Signature, err)
			}
		}},
		{"uploading to an existing path overwrites it", func(t *testing.T) {
			smaller := big[:1<<20]
			e.noErr(t, "upload", e.jobs.UploadFile(ctx, res, "app.jar", bytes.NewReader(smaller), int64(len(smaller))))
			if stored, _ := e.sim.FileBytes(e.vc.VcID, res, "app.jar"); !bytes.Equal(stored, smaller) {
				t.Errorf("stored %d bytes, want the %d of the second upload", len(stored), len(smaller))
			}
		}},
		{"uploading to a missing resource is not found before any content is read", func(t *testing.T) {
			r := &plainReader{bytes.NewReader(big)}
			err := e.jobs.UploadFile(ctx, "no-such-resource", "app.jar", r, int64(len(big)))
			wantNotFound(t, "upload", err)
			if n, _ := r.r.(*bytes.Reader); n.Len() != len(big) {
				t.Errorf("%d bytes of content read, want none", len(big)-n.Len())
			}
		}},
		{"a job mounting the resource is created", func(t *testing.T) {
			e.noErr(t, "create", e.jobs.CreateJob(ctx, job))
		}},
		{"creating the job again is a conflict", func(t *testing.T) {
			wantConflict(t, "create job", e.jobs.CreateJob(ctx, job))
		}},
		{"the job reads back as created, with server timestamps", func(t *testing.T) {
			got, err := e.jobs.GetJob(ctx, job.Name)
			e.noErr(t, "get", err)
			if g, w := normalizeJob(*got), normalizeJob(job); !reflect.DeepEqual(g, w) {
				t.Errorf("job\n got  %s\n want %s", jobJSON(g), jobJSON(w))
			}
			if got.Created == "" || got.Modified == "" {
				t.Errorf("created %q, modified %q: want server timestamps", got.Created, got.Modified)
			}
		}},
		{"the job is listed, also under a name filter", func(t *testing.T) {
			all, err := e.jobs.ListJobs(ctx)
			e.noErr(t, "list", err)
			filtered, err := e.jobs.ListJobs(ctx, "name[eq]"+job.Name)
			e.noErr(t, "list filtered", err)
			if len(all) != 1 || all[0].Name != job.Name || len(filtered) != 1 || filtered[0].Name != job.Name {
				t.Errorf("list = %v, filtered = %v", jobNames(all), jobNames(filtered))
			}
			none, err := e.jobs.ListJobs(ctx, "name[eq]other")
			e.noErr(t, "list filtered", err)
			if len(none) != 0 {
				t.Errorf("filter name[eq]other = %v", jobNames(none))
			}
		}},
		{"the job is updated", func(t *testing.T) {
			next := job
			spark := *job.Spark
			spark.Jars, spark.NumExecutors = nil, 3
			next.Spark, next.Schedule = &spark, nil
			e.noErr(t, "update", e.jobs.UpdateJob(ctx, next))
			got, err := e.jobs.GetJob(ctx, job.Name)
			e.noErr(t, "get", err)
			if g, w := normalizeJob(*got), normalizeJob(next); !reflect.DeepEqual(g, w) {
				t.Errorf("job\n got  %s\n want %s", jobJSON(g), jobJSON(w))
			}
		}},
		{"the job is deleted, then not found", func(t *testing.T) {
			e.noErr(t, "delete", e.jobs.DeleteJob(ctx, job.Name))
			_, err := e.jobs.GetJob(ctx, job.Name)
			wantNotFound(t, "get job", err)
		}},
		{"deleting or updating a missing job is not found", func(t *testing.T) {
			wantNotFound(t, "delete job", e.jobs.DeleteJob(ctx, job.Name))
			wantNotFound(t, "update job", e.jobs.UpdateJob(ctx, job))
		}},
		{"a resource file is deleted, then not found", func(t *testing.T) {
			e.noErr(t, "delete file", e.jobs.DeleteResourceFile(ctx, res, "lib/dep.jar"))
			if _, ok := e.sim.FileBytes(e.vc.VcID, res, "lib/dep.jar"); ok {
				t.Error("file still stored")
			}
			wantNotFound(t, "delete file", e.jobs.DeleteResourceFile(ctx, res, "lib/dep.jar"))
		}},
		{"the resource is deleted, then not found", func(t *testing.T) {
			e.noErr(t, "delete", e.jobs.DeleteResource(ctx, res))
			_, err := e.jobs.GetResource(ctx, res)
			wantNotFound(t, "get resource", err)
			wantNotFound(t, "delete resource", e.jobs.DeleteResource(ctx, res))
		}},
	})
}

func jobNames(jobs []cde.Job) []string {
	names := make([]string, 0, len(jobs))
	for _, j := range jobs {
		names = append(names, j.Name)
	}
	return names
}

func TestIntegrationListJobsFollowsPages(t *testing.T) {
	e := startEnv(t, cdesim.DemoSeed(), cdesim.Options{})
	var want []string
	for i := range 230 {
		name := fmt.Sprintf("job-%03d", i)
		want = append(want, name)
		if err := e.sim.PutJob(e.vc.VcID, []byte(`{"name":"`+name+`","type":"spark","spark":{"file":"a.py"}}`)); err != nil {
			t.Fatal(err)
		}
	}
	e.sim.ResetRequests()
	got, err := e.jobs.ListJobs(context.Background())
	e.noErr(t, "list", err)
	if names := jobNames(got); !slices.Equal(names, want) {
		t.Errorf("listed %d jobs %v..., want %d", len(names), names[:min(3, len(names))], len(want))
	}
	var queries []string
	for _, r := range e.requests(e.vcTarget()) {
		queries = append(queries, r.Query)
	}
	if w := []string{"limit=100&offset=0", "limit=100&offset=100", "limit=100&offset=200"}; !slices.Equal(queries, w) {
		t.Errorf("queries = %v, want %v", queries, w)
	}
}

func TestIntegrationPythonEnvLifecycle(t *testing.T) {
	const pending, build = 10 * time.Second, 40 * time.Second
	e := startEnv(t, cdesim.DemoSeed(), cdesim.Options{PythonEnvPending: pending, PythonEnvBuild: build})
	ctx := context.Background()
	const env = "pyenvres-5d41402abc4b2a76b9719d911017c592"
	requirements := []byte("pandas==2.2.2\nrequests>=2.31\n")

	status := func(t *testing.T) *cde.Resource {
		t.Helper()
		got, err := e.jobs.GetResource(ctx, env)
		e.noErr(t, "get resource", err)
		return got
	}
	wantStatus := func(want string) func(t *testing.T) {
		return func(t *testing.T) {
			if got := status(t); got.Status != want {
				t.Errorf("status = %q, want %q", got.Status, want)
			}
		}
	}
	runSteps(t, []step{
		{"python-env resource is created pending its build", func(t *testing.T) {
			e.noErr(t, "create", e.jobs.CreateResource(ctx, cde.CreateResourceRequest{Name: env, Type: cde.ResourceTypePythonEnv,
				RetentionPolicy: cde.RetentionKeepIndefinitely, PythonEnv: &cde.PythonEnv{PythonVersion: "python3"}}))
			got := status(t)
			if got.Status != cde.ResourceStatusPendingBuild || got.PythonEnv == nil || got.PythonEnv.PythonVersion != "python3" {
				t.Errorf("resource = %+v, want pending-build python3", got)
			}
		}},
		{"requirements.txt upload starts the build clock", func(t *testing.T) {
			e.noErr(t, "upload", e.jobs.UploadFile(ctx, env, "requirements.txt", bytes.NewReader(requirements), int64(len(requirements))))
			wantStatus(cde.ResourceStatusPendingBuild)(t)
		}},
		{"still pending just before the build starts", func(t *testing.T) {
			e.clock.Advance(pending - time.Second)
			wantStatus(cde.ResourceStatusPendingBuild)(t)
		}},
		{"building once pending is over", func(t *testing.T) {
			e.clock.Advance(time.Second)
			wantStatus(cde.ResourceStatusBuilding)(t)
		}},
		{"ready when the build is over, with its info and file", func(t *testing.T) {
			e.clock.Advance(build)
			got := status(t)
			if got.Status != cde.ResourceStatusReady || got.PythonEnvInfo == nil || got.PythonEnvInfo.StatusReason != "Build completed" {
				t.Errorf("resource = %+v, want ready with \"Build completed\"", got)
			}
			if len(got.Files) != 1 || got.Files[0].Path != "requirements.txt" || got.Files[0].Signature != sha1Hex(requirements) {
				t.Errorf("files = %+v", got.Files)
			}
		}},
		{"a job using the environment is accepted", func(t *testing.T) {
			e.noErr(t, "create job", e.jobs.CreateJob(ctx, cde.Job{Name: "py-job", Type: cde.JobTypeSpark,
				Spark: &cde.SparkJob{File: "main.py", PythonEnvResourceName: env, Conf: map[string]string{"spark.pyspark.python": "python3"}}}))
		}},
		{"any other file is refused with a non-transient 400", func(t *testing.T) {
			err := e.jobs.UploadFile(ctx, env, "setup.py", bytes.NewReader([]byte("x")), 1)
			e.checkNoSecret(t, err)
			if apiError(t, err).Status != 400 || cde.IsTransient(err) {
				t.Errorf("err = %v, want a non-transient 400", err)
			}
		}},
		{"a new requirements.txt rebuilds, and a failed build says why", func(t *testing.T) {
			if err := e.sim.FailPythonEnvBuild(e.vc.VcID, env, "pip: no matching distribution for pandas==0.0"); err != nil {
				t.Fatal(err)
			}
			e.noErr(t, "upload", e.jobs.UploadFile(ctx, env, "requirements.txt", bytes.NewReader([]byte("pandas==0.0\n")), -1))
			wantStatus(cde.ResourceStatusPendingBuild)(t)
			e.clock.Advance(pending + build)
			got := status(t)
			if got.Status != cde.ResourceStatusFailed || got.PythonEnvInfo == nil || !strings.Contains(got.PythonEnvInfo.StatusReason, "pandas==0.0") {
				t.Errorf("resource = %+v, want failed with the reason", got)
			}
		}},
	})
}

// ---- Fault injection and error classification

func TestIntegrationFaultsAreClassified(t *testing.T) {
	e := startEnv(t, cdesim.DemoSeed(), cdesim.Options{})
	e.token(t) // cached now: the faults below hit the calls, not Knox

	tests := []struct {
		name          string
		setup         func(t *testing.T, e *simEnv) // optional
		timeout       time.Duration                 // context deadline; 0 = none
		call          func(ctx context.Context, e *simEnv) error
		wantStatus    int // of the *APIError; 0 = not an API answer
		wantTransient bool
		wantRetry     time.Duration
		wantIs        error
	}{
		{
			name:  "503 from the jobs API is transient",
			setup: func(t *testing.T, e *simEnv) { e.sim.FailNext("GET /dex/api/v1/jobs", 1, cdesim.Failure{}) },
			call: func(ctx context.Context, e *simEnv) error {
				_, err := e.jobs.ListJobs(ctx)
				return err
			},
			wantStatus: 503, wantTransient: true,
		},
		{
			name: "429 with Retry-After gives its delay to the caller",
			setup: func(t *testing.T, e *simEnv) {
				e.sim.FailNext("GET /dex/api/v1/jobs/*", 1, cdesim.Failure{Status: 429, RetryAfter: "7"})
			},
			call: func(ctx context.Context, e *simEnv) error {
				_, err := e.jobs.GetJob(ctx, "j")
				return err
			},
			wantStatus: 429, wantTransient: true, wantRetry: 7 * time.Second,
		},
		{
			name: "503 with Retry-After from the control plane is transient and keeps the request id",
			setup: func(t *testing.T, e *simEnv) {
				e.sim.FailNext("POST /api/v1/de/listServices", 1, cdesim.Failure{Status: 503, RetryAfter: "3"})
			},
			call: func(ctx context.Context, e *simEnv) error {
				_, err := e.cdp.FindService(ctx, cdesim.DemoService)
				if apiErr, ok := errors.AsType[*cde.APIError](err); ok && apiErr.RequestID == "" {
					return fmt.Errorf("no request id in %w", err)
				}
				return err
			},
			wantStatus: 503, wantTransient: true, wantRetry: 3 * time.Second,
		},
		{
			name: "500 from Knox is transient",
			setup: func(t *testing.T, e *simEnv) {
				e.sim.FailNext("GET /gateway/authtkn/knoxtoken/api/v1/token", 1, cdesim.Failure{Status: 500})
			},
			call: func(ctx context.Context, e *simEnv) error {
				_, err := e.newKnox(t, cdesim.DemoUser, cdesim.DemoPassword, e.clock.Now).Token(ctx, e.svc.ClusterFqdn)
				return err
			},
			wantStatus: 500, wantTransient: true,
		},
		{
			name: "503 on a streamed upload is transient",
			setup: func(t *testing.T, e *simEnv) {
				if err := e.sim.AddResource(e.vc.VcID, "upload-503", "files", ""); err != nil {
					t.Fatal(err)
				}
				e.sim.FailNext("PUT /dex/api/v1/resources/**", 1, cdesim.Failure{})
			},
			call: func(ctx context.Context, e *simEnv) error {
				return e.jobs.UploadFile(ctx, "upload-503", "app.jar", &plainReader{bytes.NewReader(content(1 << 20))}, 1<<20)
			},
			wantStatus: 503, wantTransient: true,
		},
		{
			name: "a virtual cluster that is not running answers 503, transient",
			setup: func(t *testing.T, e *simEnv) {
				if err := e.sim.SetVCStatus(e.vc.VcID, "AppInstalling"); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = e.sim.SetVCStatus(e.vc.VcID, cdesim.StatusVCRunning) })
			},
			call: func(ctx context.Context, e *simEnv) error {
				_, err := e.jobs.GetJob(ctx, "j")
				return err
			},
			wantStatus: 503, wantTransient: true,
		},
		{
			name: "an injected 400 is permanent",
			setup: func(t *testing.T, e *simEnv) {
				e.sim.FailNext("POST /dex/api/v1/jobs", 1, cdesim.Failure{Status: 400, Body: `{"message":"spark.file is required"}`})
			},
			call: func(ctx context.Context, e *simEnv) error {
				return e.jobs.CreateJob(ctx, cde.Job{Name: "j", Type: cde.JobTypeSpark, Spark: &cde.SparkJob{File: "a.py"}})
			},
			wantStatus: 400,
		},
		{
			name: "latency past the context deadline is a transient timeout",
			setup: func(t *testing.T, e *simEnv) {
				// Far longer than the deadline: the server never answers in
				// time, however slow the machine.
				e.sim.SetLatency("GET /dex/api/v1/jobs/*", time.Minute)
				t.Cleanup(func() { e.sim.SetLatency("GET /dex/api/v1/jobs/*", 0) })
			},
			timeout: 300 * time.Millisecond,
			call: func(ctx context.Context, e *simEnv) error {
				_, err := e.jobs.GetJob(ctx, "j")
				return err
			},
			wantTransient: true, wantIs: context.DeadlineExceeded,
		},
		{
			name: "latency past the http.Client timeout is a transient timeout",
			setup: func(t *testing.T, e *simEnv) {
				e.sim.SetLatency("GET /dex/api/v1/jobs/*", time.Minute)
				t.Cleanup(func() { e.sim.SetLatency("GET /dex/api/v1/jobs/*", 0) })
			},
			call: func(ctx context.Context, e *simEnv) error {
				hc := &http.Client{Transport: e.hc.Transport, Timeout: 300 * time.Millisecond}
				jobs, err := cde.NewJobsClient(e.vc.VcAPIURL, e.knox.ForHost(e.svc.ClusterFqdn), hc, cde.WithRetryPolicy(cde.NoRetry))
				if err != nil {
					return err
				}
				_, err = jobs.GetJob(ctx, "j")
				return err
			},
			wantTransient: true,
		},
		{
			name: "a canceled context is not transient",
			setup: func(t *testing.T, e *simEnv) {
				release := e.sim.Block("GET /dex/api/v1/jobs/*")
				t.Cleanup(release)
			},
			call: func(ctx context.Context, e *simEnv) error {
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				errc := make(chan error, 1)
				go func() {
					_, err := e.jobs.GetJob(ctx, "j")
					errc <- err
				}()
				// Cancel only once the request is held by the server, so the
				// cancellation interrupts a request in flight.
				if err := e.sim.AwaitBlocked(context.Background(), 1); err != nil {
					return err
				}
				cancel()
				return <-errc
			},
			wantIs: context.Canceled,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup(t, e)
			}
			t.Cleanup(e.sim.ClearFaults)
			ctx := context.Background()
			if tt.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.timeout)
				defer cancel()
			}
			err := tt.call(ctx, e)
			e.checkNoSecret(t, err)
			if err == nil {
				t.Fatal("no error")
			}
			if got := cde.IsTransient(err); got != tt.wantTransient {
				t.Errorf("IsTransient(%v) = %v, want %v", err, got, tt.wantTransient)
			}
			if got := cde.RetryAfter(err); got != tt.wantRetry {
				t.Errorf("RetryAfter(%v) = %v, want %v", err, got, tt.wantRetry)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("err = %v, want it to match %v", err, tt.wantIs)
			}
			apiErr, isAPI := errors.AsType[*cde.APIError](err)
			switch {
			case tt.wantStatus == 0 && isAPI:
				t.Errorf("err = %v, want no API answer", err)
			case tt.wantStatus != 0 && (!isAPI || apiErr.Status != tt.wantStatus):
				t.Errorf("err = %v, want an *APIError with status %d", err, tt.wantStatus)
			}
		})
	}
	t.Run("after the faults the same calls succeed", func(t *testing.T) {
		_, err := e.jobs.ListJobs(context.Background())
		e.noErr(t, "list", err)
		_, err = e.cdp.FindService(context.Background(), cdesim.DemoService)
		e.noErr(t, "find service", err)
	})
}

// ---- Secrets

// A server may echo what it received in an error body (a debugging proxy,
// a gateway quoting the header it refused): the client's errors must still
// hold no credential.
func TestIntegrationNoSecretInAnyError(t *testing.T) {
	e := startEnv(t, cdesim.DemoSeed(), cdesim.Options{})
	ctx := context.Background()
	tok := e.token(t)
	basic := base64.StdEncoding.EncodeToString([]byte(cdesim.DemoUser + ":" + cdesim.DemoPassword))
	e.addSecret(basic)

	tests := []struct {
		name string
		call func(t *testing.T) error
	}{
		{"jobs API echoing the bearer token in a 401", func(t *testing.T) error {
			e.sim.FailNext("GET /dex/api/v1/jobs/*", 2, cdesim.Failure{Status: 401, Body: `{"message":"token ` + tok + ` refused"}`})
			_, err := e.jobs.GetJob(ctx, "j")
			return err
		}},
		{"jobs API echoing the Authorization header in a 500", func(t *testing.T) error {
			e.sim.FailNext("GET /dex/api/v1/jobs/*", 1, cdesim.Failure{Status: 500, ContentType: "text/plain", Body: "upstream failed; request had Authorization: Bearer " + e.token(t)})
			_, err := e.jobs.GetJob(ctx, "j")
			return err
		}},
		{"Knox echoing the password in a 401", func(t *testing.T) error {
			e.sim.FailNext("GET /gateway/authtkn/knoxtoken/api/v1/token", 1, cdesim.Failure{Status: 401, ContentType: "text/plain",
				Body: "bad credentials " + cdesim.DemoUser + ":" + cdesim.DemoPassword})
			_, err := e.newKnox(t, cdesim.DemoUser, cdesim.DemoPassword, e.clock.Now).Token(ctx, e.svc.ClusterFqdn)
			return err
		}},
		{"Knox echoing the Basic header in a 403", func(t *testing.T) error {
			e.sim.FailNext("GET /gateway/authtkn/knoxtoken/api/v1/token", 1, cdesim.Failure{Status: 403, ContentType: "text/plain",
				Body: "{ \"Unable to get token for Basic " + basic + "\" }"})
			_, err := e.newKnox(t, cdesim.DemoUser, cdesim.DemoPassword, e.clock.Now).Token(ctx, e.svc.ClusterFqdn)
			return err
		}},
		{"wrong Knox password", func(t *testing.T) error {
			_, err := e.newKnox(t, cdesim.DemoUser, "wrong-"+cdesim.DemoPassword, e.clock.Now).Token(ctx, e.svc.ClusterFqdn)
			return err
		}},
		{"wrong CDP key", func(t *testing.T) error {
			wrong := ed25519Seed(t)
			e.addSecret(wrong)
			_, err := e.newCDP(t, cdesim.DemoAccessKeyID, wrong).ListServices(ctx, true)
			return err
		}},
		{"malformed CDP key", func(t *testing.T) error {
			bad := strings.Repeat("A", 43) + "!"
			e.addSecret(bad)
			_, err := cde.NewCDPClient(cde.CDPConfig{Endpoint: e.sim.ControlPlaneURL(), AccessKeyID: "k", PrivateKey: bad})
			return err
		}},
		{"jobs API 404", func(t *testing.T) error {
			_, err := e.jobs.GetJob(ctx, "missing")
			return err
		}},
		{"jobs API 400 on a bad upload", func(t *testing.T) error {
			if err := e.sim.AddResource(e.vc.VcID, "py", "python-env", "python3"); err != nil {
				t.Fatal(err)
			}
			return e.jobs.UploadFile(ctx, "py", "x.txt", strings.NewReader("x"), 1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Cleanup(e.sim.ClearFaults)
			err := tt.call(t)
			if err == nil {
				t.Fatal("no error")
			}
			e.checkNoSecret(t, err)
			t.Logf("%v", err)
		})
	}
}

func TestDownloadSmallFile(t *testing.T) {
	jobs := startEnv(t, cdesim.DemoSeed(), cdesim.Options{}).jobs
	ctx := context.Background()
	if err := jobs.CreateResource(ctx, cde.CreateResourceRequest{Name: "r", Type: cde.ResourceTypeFiles}); err != nil {
		t.Fatal(err)
	}
	if err := jobs.UploadFile(ctx, "r", "dir/notes.json", strings.NewReader(`{"a":1}`), 7); err != nil {
		t.Fatal(err)
	}

	got, err := jobs.DownloadSmallFile(ctx, "r", "dir/notes.json")
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != `{"a":1}` {
		t.Fatalf("downloaded %q", got)
	}
	_, err = jobs.DownloadSmallFile(ctx, "r", "missing.json")
	if !errors.Is(err, cde.ErrNotFound) {
		t.Fatalf("missing file: %v, want ErrNotFound", err)
	}
}

func TestUploadFileFromReopensTheContentAfterARefusedToken(t *testing.T) {
	e := startEnv(t, cdesim.DemoSeed(), cdesim.Options{})
	sim, jobs, vcID := e.sim, e.jobs, e.vc.VcID
	ctx := context.Background()
	if err := jobs.CreateResource(ctx, cde.CreateResourceRequest{Name: "r", Type: cde.ResourceTypeFiles}); err != nil {
		t.Fatal(err)
	}
	opened, closed := 0, 0
	open := func() (io.ReadCloser, error) {
		opened++
		return closeCounter{Reader: strings.NewReader("reopenable content"), closed: &closed}, nil
	}
	sim.ResetRequests()
	sim.FailNext("PUT /dex/api/v1/resources/r/**", 1, cdesim.Failure{Status: http.StatusUnauthorized})
	if err := jobs.UploadFileFrom(ctx, "r", "a.txt", open, int64(len("reopenable content"))); err != nil {
		t.Fatal(err)
	}
	if opened != 2 || closed != 2 {
		t.Fatalf("opened %d, closed %d: want 2 and 2", opened, closed)
	}
	got, ok := sim.FileBytes(vcID, "r", "a.txt")
	if !ok || string(got) != "reopenable content" {
		t.Fatalf("stored %q", got)
	}
	for _, r := range sim.Requests() {
		if r.Method == http.MethodGet && strings.HasPrefix(r.Path, "/dex/api/v1/resources") {
			t.Fatalf("no probe request expected, got %s %s", r.Method, r.Path)
		}
	}
}

type closeCounter struct {
	io.Reader
	closed *int
}

func (c closeCounter) Close() error { *c.closed++; return nil }
