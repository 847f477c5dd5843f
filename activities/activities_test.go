package activities_test

import (
	"crypto/tls"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// newActivities returns activities talking to a fresh simulator over the real protocols.
func newActivities(t *testing.T) (*activities.Activities, *cdesim.Sim) {
	t.Helper()
	sim := cdesim.StartForTest(t, cdesim.DemoSeed(), cdesim.Options{})
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sim.CertPool()}}}
	// The clients' per-request retries wait milliseconds here (an outage is a FailNext of every
	// request, n = -1: a single failure is absorbed by those retries).
	fast := cde.RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond}
	cdp, err := cde.NewCDPClient(cde.CDPConfig{Endpoint: sim.ControlPlaneURL(), AccessKeyID: cdesim.DemoAccessKeyID, PrivateKey: cdesim.DemoPrivateKey, HTTPClient: hc, Retry: fast})
	require.NoError(t, err)
	tokens, err := cde.NewKnoxTokenSource(cde.KnoxConfig{User: cdesim.DemoUser, Password: cdesim.DemoPassword, HTTPClient: hc, Retry: fast})
	require.NoError(t, err)
	return &activities.Activities{CDP: cdp, Tokens: tokens, HTTP: hc, IDBrokerLookup: true}, sim
}

func activityEnv(t *testing.T, acts *activities.Activities) *testsuite.TestActivityEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	return env
}

func TestResolveTarget(t *testing.T) {
	acts, _ := newActivities(t)
	env := activityEnv(t, acts)
	tests := []struct {
		name, service, cluster string
		message                string // "" when the target is usable
	}{
		{"running service and cluster", "cde-dev", "vc-dev", ""},
		{"unknown service", "nope", "vc-dev", "CDE Service not found"},
		{"recently deleted service", "cde-old", "vc-old", "CDE Service was recently deleted"},
		{"unknown virtual cluster", "cde-dev", "vc-nope", "CDE Virtual Cluster not found"},
		{"virtual cluster being installed", "cde-stage", "vc-stage", "CDE Virtual Cluster exists but is not properly activated"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			val, err := env.ExecuteActivity(acts.ResolveTarget, activities.ResolveInput{
				Service: tt.service, Cluster: tt.cluster, ServiceField: "svc", ClusterField: "vc"})
			require.NoError(t, err)
			var res activities.Resolution
			require.NoError(t, val.Get(&res))
			if tt.message == "" {
				require.Empty(t, res.Problems)
				assert.Equal(t, "cluster-dev00001", res.Target.ServiceID)
				assert.NotEmpty(t, res.Target.VcAPIURL)
				assert.NotEmpty(t, res.Target.ClusterFqdn)
				return
			}
			require.Len(t, res.Problems, 1)
			assert.Contains(t, res.Problems[0].Message, tt.message)
		})
	}
}

func TestResolveTargetRetriesCDPOutagesAndNeverCallsThemNotFound(t *testing.T) {
	acts, sim := newActivities(t)
	env := activityEnv(t, acts)
	sim.FailNext("POST /api/v1/de/listServices", -1, cdesim.Failure{Status: http.StatusServiceUnavailable})
	_, err := env.ExecuteActivity(acts.ResolveTarget, activities.ResolveInput{Service: "cde-dev", Cluster: "vc-dev"})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, activities.ErrTypeTransient, appErr.Type())
	assert.False(t, appErr.NonRetryable())
}

func TestAuthFailuresAreNotRetried(t *testing.T) {
	acts, sim := newActivities(t)
	acts.Tokens, _ = cde.NewKnoxTokenSource(cde.KnoxConfig{User: cdesim.DemoUser, Password: "wrong", HTTPClient: acts.HTTP})
	env := activityEnv(t, acts)
	vc, ok := sim.VC(cdesim.DemoService, cdesim.DemoVC)
	require.True(t, ok)
	svc, ok := sim.Service(cdesim.DemoService)
	require.True(t, ok)
	target := activities.Target{ServiceName: "cde-dev", ClusterName: "vc-dev", VcAPIURL: vc.APIURL, ClusterFqdn: svc.ClusterFqdn}
	_, err := env.ExecuteActivity(acts.DeleteJob, activities.DeleteInput{Target: target, Name: "x"})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, activities.ErrTypeAuth, appErr.Type())
	assert.True(t, appErr.NonRetryable())
	assert.NotContains(t, err.Error(), "wrong", "no password in errors")
}

// demoTarget resolves the simulator's running demo service and virtual cluster.
func demoTarget(t *testing.T, acts *activities.Activities) activities.Target {
	t.Helper()
	val, err := activityEnv(t, acts).ExecuteActivity(acts.ResolveTarget, activities.ResolveInput{Service: "cde-dev", Cluster: "vc-dev"})
	require.NoError(t, err)
	var res activities.Resolution
	require.NoError(t, val.Get(&res))
	return res.Target
}

func TestJobLifecycleIsIdempotent(t *testing.T) {
	acts, sim := newActivities(t)
	env := activityEnv(t, acts)
	target := demoTarget(t, acts)

	d, problems := descriptor.Check(`dataProduct:
  id: urn:dmb:dp:finance:cashflow:0
  environment: development
  components:
    - kind: workload
      id: urn:dmb:cmp:finance:cashflow:0:wl
      specific:
        cdeService: cde-dev
        cdeCluster: vc-dev
        jobName: finance-cashflow-0-wl-development
        jar: s3://artifacts/app.jar
        className: com.example.App
componentIdToProvision: urn:dmb:cmp:finance:cashflow:0:wl
`)
	require.Empty(t, problems)
	spec := d.Component.Specific
	mainRes := descriptor.MainResourceName(spec.JobName)

	_, err := env.ExecuteActivity(acts.SyncFiles, activities.SyncInput{Target: target, ManifestResource: mainRes,
		Resources: []activities.ResourceFiles{{Resource: mainRes, Type: cde.ResourceTypeFiles}}})
	require.NoError(t, err)
	for i, wantCreated := range []bool{true, false} {
		val, err := env.ExecuteActivity(acts.UpsertJob, activities.JobInput{Target: target, Specific: spec, IDBrokerHosts: []string{"10.0.0.1"}})
		require.NoError(t, err, "attempt %d", i)
		var job activities.JobInfo
		require.NoError(t, val.Get(&job))
		assert.Equal(t, wantCreated, job.Created)
		assert.Equal(t, []string{mainRes}, job.Resources)
	}
	_, err = sim.Job(target.VcID, spec.JobName)
	require.NoError(t, err)

	for i, wantDeleted := range []bool{true, false} {
		val, err := env.ExecuteActivity(acts.DeleteJob, activities.DeleteInput{Target: target, Name: spec.JobName})
		require.NoError(t, err, "attempt %d", i)
		var del activities.DeleteResult
		require.NoError(t, val.Get(&del))
		assert.Equal(t, wantDeleted, del.Deleted)
	}
	_, err = env.ExecuteActivity(acts.ConfirmJobGone, activities.DeleteInput{Target: target, Name: spec.JobName})
	require.NoError(t, err)
	for i, wantDeleted := range []bool{true, false} {
		val, err := env.ExecuteActivity(acts.DeleteResource, activities.DeleteInput{Target: target, Name: mainRes})
		require.NoError(t, err, "attempt %d", i)
		var del activities.DeleteResult
		require.NoError(t, val.Get(&del))
		assert.Equal(t, wantDeleted, del.Deleted)
	}
}

func TestIDBrokerHostsCanBeSwitchedOff(t *testing.T) {
	acts, _ := newActivities(t)
	env := activityEnv(t, acts)
	target := activities.Target{ServiceName: "cde-dev", EnvironmentCRN: cdesim.DemoEnvironmentCRN}
	val, err := env.ExecuteActivity(acts.IDBrokerHosts, target)
	require.NoError(t, err)
	var hosts []string
	require.NoError(t, val.Get(&hosts))
	assert.Equal(t, []string{"10.10.1.10", "10.10.1.11"}, hosts)

	acts.IDBrokerLookup = false
	val, err = env.ExecuteActivity(acts.IDBrokerHosts, target)
	require.NoError(t, err)
	hosts = nil
	require.NoError(t, val.Get(&hosts))
	assert.Empty(t, hosts)
}

// A job records the component that owns it; another component's upsert or delete is refused
// for good with the problem, and a job with no owner recorded (the reference's) is adopted.
func TestJobsAreOwnedByTheirComponent(t *testing.T) {
	acts, sim := newActivities(t)
	env := activityEnv(t, acts)
	target := demoTarget(t, acts)
	spec := descriptor.Specific{Kind: descriptor.SparkJar, CDEService: "cde-dev", CDECluster: "vc-dev",
		JobName: "fin-eu-cash-0-wl-development", Jar: "s3://artifacts/app.jar", ClassName: "com.example.App"}
	mainRes := descriptor.MainResourceName(spec.JobName)
	_, err := env.ExecuteActivity(acts.SyncFiles, activities.SyncInput{Target: target, ManifestResource: mainRes,
		Resources: []activities.ResourceFiles{{Resource: mainRes, Type: cde.ResourceTypeFiles}}})
	require.NoError(t, err)
	const a, b = "urn:dmb:cmp:fin-eu:cash:0:wl", "urn:dmb:cmp:fin:eu-cash:0:wl"

	// Deployed without an owner (the reference provisioner), then adopted by A.
	_, err = env.ExecuteActivity(acts.UpsertJob, activities.JobInput{Target: target, Specific: spec})
	require.NoError(t, err)
	_, err = env.ExecuteActivity(acts.UpsertJob, activities.JobInput{Target: target, Specific: spec, ComponentID: a})
	require.NoError(t, err)
	stored, err := sim.Job(target.VcID, spec.JobName)
	require.NoError(t, err)
	assert.Contains(t, string(stored), `"`+descriptor.ConfOwnerKey+`":"`+a+`"`)

	// B maps to the same job name: refused, with the problem at its field; the job is A's still.
	_, err = env.ExecuteActivity(acts.UpsertJob, activities.JobInput{Target: target, Specific: spec, ComponentID: b, JobField: "jobName"})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, activities.ErrTypeOwnership, appErr.Type())
	assert.True(t, appErr.NonRetryable())
	var p descriptor.Problem
	require.NoError(t, appErr.Details(&p))
	assert.Equal(t, "jobName", p.Field)
	assert.Contains(t, p.Message, "already used by component "+a)
	_, err = env.ExecuteActivity(acts.DeleteJob, activities.DeleteInput{Target: target, Name: spec.JobName, ComponentID: b})
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, activities.ErrTypeOwnership, appErr.Type())
	after, err := sim.Job(target.VcID, spec.JobName)
	require.NoError(t, err)
	assert.JSONEq(t, string(stored), string(after))

	// A deletes its own.
	val, err := env.ExecuteActivity(acts.DeleteJob, activities.DeleteInput{Target: target, Name: spec.JobName, ComponentID: a})
	require.NoError(t, err)
	var del activities.DeleteResult
	require.NoError(t, val.Get(&del))
	assert.True(t, del.Deleted)
}

// resolve runs ResolveTarget in env and returns its answer.
func resolve(t *testing.T, env *testsuite.TestActivityEnvironment, acts *activities.Activities, in activities.ResolveInput) activities.Resolution {
	t.Helper()
	val, err := env.ExecuteActivity(acts.ResolveTarget, in)
	require.NoError(t, err)
	var res activities.Resolution
	require.NoError(t, val.Get(&res))
	return res
}

// controlPlaneCalls counts the CDP control-plane requests in the simulator's log. (The simulator
// logs a request before its answer leaves, so an activity's requests are all in the log when it
// returns.)
func controlPlaneCalls(sim *cdesim.Sim) int {
	n := 0
	for _, r := range sim.Requests() {
		if r.Target == "controlplane" {
			n++
		}
	}
	return n
}

// withLookups gives acts a cache that keeps answers longer than any test runs.
func withLookups(acts *activities.Activities) *activities.Activities {
	acts.Lookups = activities.NewLookups(time.Hour)
	return acts
}

// Within the TTL a provision's check asks CDP nothing, but the job's owner is asked every time:
// another component may have taken the name since.
func TestResolveTargetKeepsARunningTargetButChecksTheOwnerEveryTime(t *testing.T) {
	acts, sim := newActivities(t)
	env := activityEnv(t, withLookups(acts))
	const a, b = "urn:dmb:cmp:fin:cash:0:wl", "urn:dmb:cmp:fin:other:0:wl"
	const jobName = "fin-cash-0-wl-development"
	in := activities.ResolveInput{Service: cdesim.DemoService, Cluster: cdesim.DemoVC, ServiceField: "svc", ClusterField: "vc",
		JobName: jobName, ComponentID: a, JobField: "jobName"}

	first := resolve(t, env, acts, in)
	require.Empty(t, first.Problems)
	assert.Positive(t, controlPlaneCalls(sim), "the first check asks CDP")

	// Another component deploys a job of that name meanwhile.
	require.NoError(t, sim.PutJob(first.Target.VcID, []byte(`{"name":"`+jobName+`","type":"spark",
		"spark":{"file":"app.jar","className":"com.example.App","conf":{"`+descriptor.ConfOwnerKey+`":"`+b+`"}}}`)))
	sim.ResetRequests()
	second := resolve(t, env, acts, in)
	assert.Equal(t, 0, controlPlaneCalls(sim), "kept: no CDP call")
	assert.Equal(t, first.Target, second.Target)
	require.Len(t, second.Problems, 1, "the owner is checked on the kept target")
	assert.Equal(t, "jobName", second.Problems[0].Field)
	assert.Contains(t, second.Problems[0].Message, "already used by component "+b)
	var ownerAsked bool
	for _, r := range sim.Requests() {
		ownerAsked = ownerAsked || r.Method == http.MethodGet && r.Path == "/dex/api/v1/jobs/"+jobName
	}
	assert.True(t, ownerAsked, "the jobs API is asked for the job: %+v", sim.Requests())
}

// Only positive answers are kept: a service or virtual cluster that is not running is asked
// again at every check, so one that starts is seen at once.
func TestResolveTargetNeverKeepsATargetThatIsNotRunning(t *testing.T) {
	tests := []struct {
		name, service, cluster string
		message                string
		start                  func(t *testing.T, sim *cdesim.Sim)
	}{
		{"virtual cluster being installed", "cde-stage", "vc-stage", "not properly activated", func(t *testing.T, sim *cdesim.Sim) {
			vc, ok := sim.VC("cde-stage", "vc-stage")
			require.True(t, ok)
			require.NoError(t, sim.SetVCStatus(vc.VCID, cdesim.StatusVCRunning))
		}},
		{"service not running", cdesim.DemoService, cdesim.DemoVC, "CDE Service", func(t *testing.T, sim *cdesim.Sim) {
			svc, ok := sim.Service(cdesim.DemoService)
			require.True(t, ok)
			require.NoError(t, sim.SetServiceStatus(svc.ClusterID, cdesim.StatusServiceRunning))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acts, sim := newActivities(t)
			env := activityEnv(t, withLookups(acts))
			if tt.service == cdesim.DemoService {
				svc, ok := sim.Service(cdesim.DemoService)
				require.True(t, ok)
				require.NoError(t, sim.SetServiceStatus(svc.ClusterID, "ClusterCreationInProgress"))
			}
			in := activities.ResolveInput{Service: tt.service, Cluster: tt.cluster, ServiceField: "svc", ClusterField: "vc"}
			for i := range 2 {
				sim.ResetRequests()
				res := resolve(t, env, acts, in)
				require.Len(t, res.Problems, 1, "check %d", i)
				assert.Contains(t, res.Problems[0].Message, tt.message)
				assert.Positive(t, controlPlaneCalls(sim), "check %d asks CDP", i)
			}
			tt.start(t, sim)
			res := resolve(t, env, acts, in)
			assert.Empty(t, res.Problems, "running now: seen at the next check")
			assert.NotEmpty(t, res.Target.VcAPIURL)
		})
	}
}

func TestResolveTargetWithoutCacheAsksCDPEveryTime(t *testing.T) {
	for name, lookups := range map[string]*activities.Lookups{"no Lookups": nil, "TTL 0": activities.NewLookups(0)} {
		t.Run(name, func(t *testing.T) {
			acts, sim := newActivities(t)
			acts.Lookups = lookups
			env := activityEnv(t, acts)
			in := activities.ResolveInput{Service: cdesim.DemoService, Cluster: cdesim.DemoVC, IDBrokerHosts: true}
			for i := range 2 {
				sim.ResetRequests()
				res := resolve(t, env, acts, in)
				require.Empty(t, res.Problems)
				assert.Equal(t, []string{"10.10.1.10", "10.10.1.11"}, res.IDBrokerHosts)
				assert.Positive(t, controlPlaneCalls(sim), "check %d asks CDP", i)
			}
		})
	}
}

// A provision's check also looks up the idbroker hosts; kept like the target.
func TestResolveTargetLooksUpAndKeepsTheIDBrokerHosts(t *testing.T) {
	acts, sim := newActivities(t)
	env := activityEnv(t, withLookups(acts))
	in := activities.ResolveInput{Service: cdesim.DemoService, Cluster: cdesim.DemoVC, IDBrokerHosts: true}
	want := []string{"10.10.1.10", "10.10.1.11"}

	assert.Empty(t, resolve(t, env, acts, activities.ResolveInput{Service: cdesim.DemoService, Cluster: cdesim.DemoVC}).IDBrokerHosts,
		"asked only when the input says so")
	first := resolve(t, env, acts, in)
	require.Empty(t, first.Problems)
	assert.Equal(t, want, first.IDBrokerHosts)

	sim.ResetRequests()
	second := resolve(t, env, acts, in)
	assert.Equal(t, want, second.IDBrokerHosts)
	assert.Equal(t, 0, controlPlaneCalls(sim), "hosts and target kept")

	// The activity of the runs before the lean ones reads the same cache.
	val, err := env.ExecuteActivity(acts.IDBrokerHosts, first.Target)
	require.NoError(t, err)
	var hosts []string
	require.NoError(t, val.Get(&hosts))
	assert.Equal(t, want, hosts)
	assert.Equal(t, 0, controlPlaneCalls(sim))
}

// A jobs-API request that fails for good in a way that says the virtual cluster may not be what
// CDP said drops the kept target: the next check asks CDP again. A failure about the object asked
// for keeps it.
func TestAJobsAPIFailureThatSuggestsAStaleTargetDropsIt(t *testing.T) {
	tests := []struct {
		name   string
		fail   func(sim *cdesim.Sim)
		call   func(env *testsuite.TestActivityEnvironment, acts *activities.Activities, target activities.Target) error
		forget bool
	}{
		{"a 5xx after the retries", func(sim *cdesim.Sim) {
			sim.FailNext("GET /dex/api/v1/resources/**", -1, cdesim.Failure{Status: http.StatusServiceUnavailable})
		}, func(env *testsuite.TestActivityEnvironment, acts *activities.Activities, target activities.Target) error {
			_, err := env.ExecuteActivity(acts.ResourceStatus, activities.ResourceInput{Target: target, Name: "mainres-x"})
			return err
		}, true},
		{"a 404 to a POST", func(sim *cdesim.Sim) {
			sim.FailNext("POST /dex/api/v1/jobs", 1, cdesim.Failure{Status: http.StatusNotFound})
		}, func(env *testsuite.TestActivityEnvironment, acts *activities.Activities, target activities.Target) error {
			spec := descriptor.Specific{Kind: descriptor.SparkJar, CDEService: cdesim.DemoService, CDECluster: cdesim.DemoVC,
				JobName: "fin-cash-0-wl-development", Jar: "s3://artifacts/app.jar", ClassName: "com.example.App"}
			_, err := env.ExecuteActivity(acts.UpsertJob, activities.JobInput{Target: target, Specific: spec})
			return err
		}, true},
		{"a 404 to a GET is about the resource, not the cluster", func(*cdesim.Sim) {},
			func(env *testsuite.TestActivityEnvironment, acts *activities.Activities, target activities.Target) error {
				_, err := env.ExecuteActivity(acts.ResourceStatus, activities.ResourceInput{Target: target, Name: "mainres-missing"})
				return err
			}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acts, sim := newActivities(t)
			env := activityEnv(t, withLookups(acts))
			in := activities.ResolveInput{Service: cdesim.DemoService, Cluster: cdesim.DemoVC}
			target := resolve(t, env, acts, in).Target

			tt.fail(sim)
			require.Error(t, tt.call(env, acts, target), "the jobs-API call fails")
			sim.ClearFaults()

			sim.ResetRequests()
			res := resolve(t, env, acts, in)
			require.Empty(t, res.Problems)
			assert.Equal(t, target, res.Target)
			if tt.forget {
				assert.Positive(t, controlPlaneCalls(sim), "dropped: the next check asks CDP")
			} else {
				assert.Equal(t, 0, controlPlaneCalls(sim), "kept")
			}
		})
	}
}

// An unprovision's check is fresh: a kept target is not used (a cluster deleted since must be
// reported gone, so that the deletes are skipped), and the fresh answer is kept for the others.
func TestAFreshResolveAsksCDPWhateverIsKept(t *testing.T) {
	acts, sim := newActivities(t)
	env := activityEnv(t, withLookups(acts))
	in := activities.ResolveInput{Service: cdesim.DemoService, Cluster: cdesim.DemoVC, ServiceField: "svc", ClusterField: "vc"}
	first := resolve(t, env, acts, in)
	require.Empty(t, first.Problems)

	sim.ResetRequests()
	fresh := in
	fresh.Fresh = true
	again := resolve(t, env, acts, fresh)
	assert.Positive(t, controlPlaneCalls(sim), "a fresh check asks CDP")
	assert.Equal(t, first.Target, again.Target)

	sim.ResetRequests()
	resolve(t, env, acts, in)
	assert.Zero(t, controlPlaneCalls(sim), "what the fresh check found is kept")
}
