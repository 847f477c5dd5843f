package activities_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
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
		found                  string // what was found instead of a running one
	}{
		{"running service and cluster", "cde-dev", "vc-dev", "", ""},
		{"unknown service", "nope", "vc-dev", "CDE Service not found", activities.FoundAbsent},
		{"recently deleted service", "cde-old", "vc-old", "CDE Service was recently deleted", cde.ServiceStatusDeleted},
		{"unknown virtual cluster", "cde-dev", "vc-nope", "CDE Virtual Cluster not found", activities.FoundAbsent},
		{"virtual cluster being installed", "cde-stage", "vc-stage", "CDE Virtual Cluster exists but is not properly activated", "AppInstalling"},
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
			assert.Equal(t, tt.found, res.Found)
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
	appErr := ownershipRefusal(t, err)
	assert.True(t, appErr.NonRetryable())
	var p descriptor.Problem
	require.NoError(t, appErr.Details(&p))
	assert.Equal(t, "jobName", p.Field)
	assert.Contains(t, p.Message, "already used by component "+a)
	_, err = env.ExecuteActivity(acts.DeleteJob, activities.DeleteInput{Target: target, Name: spec.JobName, ComponentID: b})
	appErr = ownershipRefusal(t, err)
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

// controlPlaneOps counts the CDP control-plane requests in the simulator's log by operation: the
// path after /api/v1/ (de/listServices, de/describeService, de/listVcs, de/describeVc,
// datalake/listDatalakes, datalake/describeDatalake).
func controlPlaneOps(sim *cdesim.Sim) map[string]int { return controlPlaneOpsExcept(sim, "") }

// controlPlaneOpsExcept is controlPlaneOps without the requests about the service clusterID
// (none left out when it is empty).
func controlPlaneOpsExcept(sim *cdesim.Sim, clusterID string) map[string]int {
	ops := map[string]int{}
	for _, r := range sim.Requests() {
		if r.Target != "controlplane" {
			continue
		}
		var args struct {
			ClusterID string `json:"clusterId"`
		}
		_ = json.Unmarshal([]byte(r.Body), &args) // the listings without arguments have none
		if clusterID == "" || args.ClusterID != clusterID {
			ops[strings.TrimPrefix(r.Path, "/api/v1/")]++
		}
	}
	return ops
}

// The control-plane calls of a check of a running service and virtual cluster: with nothing
// kept, the listings and both describes; with their ids and facts kept, the two listings only.
var (
	coldCheck = map[string]int{"de/listServices": 1, "de/describeService": 1, "de/listVcs": 1, "de/describeVc": 1}
	warmCheck = map[string]int{"de/listServices": 1, "de/listVcs": 1}
	// hostsLookup is the idbroker hosts' lookup (ResolveInput.IDBrokerHosts).
	hostsLookup = map[string]int{"datalake/listDatalakes": 1, "datalake/describeDatalake": 1}
)

// plus is the union of counts of calls.
func plus(ms ...map[string]int) map[string]int {
	sum := map[string]int{}
	for _, m := range ms {
		for op, n := range m {
			sum[op] += n
		}
	}
	return sum
}

// withLookups gives acts a cache that keeps answers longer than any test runs.
func withLookups(acts *activities.Activities) *activities.Activities {
	acts.Lookups = activities.NewLookups(time.Hour)
	return acts
}

// demoInput is the check of the demo service and virtual cluster, with the fields to blame.
func demoInput() activities.ResolveInput {
	return activities.ResolveInput{Service: cdesim.DemoService, Cluster: cdesim.DemoVC, ServiceField: "svc", ClusterField: "vc"}
}

// Within the TTL a check lists the service and its virtual clusters (whether they exist and run
// is never kept) but describes neither, and answers the target a check with nothing kept
// answers. The job's owner is asked every time: another component may have taken the name since.
func TestAWarmResolveOnlyListsAndChecksTheOwnerEveryTime(t *testing.T) {
	acts, sim := newActivities(t)
	env := activityEnv(t, withLookups(acts))
	const a, b = "urn:dmb:cmp:fin:cash:0:wl", "urn:dmb:cmp:fin:other:0:wl"
	const jobName = "fin-cash-0-wl-development"
	in := demoInput()
	in.JobName, in.ComponentID, in.JobField = jobName, a, "jobName"

	first := resolve(t, env, acts, in)
	require.Empty(t, first.Problems)
	assert.Equal(t, coldCheck, controlPlaneOps(sim), "nothing kept yet: listed and described")
	vc, ok := sim.VC(cdesim.DemoService, cdesim.DemoVC)
	require.True(t, ok)
	svc, ok := sim.Service(cdesim.DemoService)
	require.True(t, ok)
	assert.Equal(t, activities.Target{ServiceName: cdesim.DemoService, ServiceID: svc.ClusterID, EnvironmentCRN: svc.EnvironmentCRN,
		ClusterFqdn: svc.ClusterFqdn, ClusterName: cdesim.DemoVC, VcID: vc.VCID, VcAPIURL: vc.APIURL,
		VcUIURL: strings.TrimSuffix(vc.APIURL, "/api/v1") + "/ui/"}, first.Target)

	// Another component deploys a job of that name meanwhile.
	require.NoError(t, sim.PutJob(first.Target.VcID, []byte(`{"name":"`+jobName+`","type":"spark",
		"spark":{"file":"app.jar","className":"com.example.App","conf":{"`+descriptor.ConfOwnerKey+`":"`+b+`"}}}`)))
	sim.ResetRequests()
	second := resolve(t, env, acts, in)
	assert.Equal(t, warmCheck, controlPlaneOps(sim), "kept: the two listings, no describe")
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

// With the service's id kept, the listing of its virtual clusters does not wait for the listing
// of the services: both are asked at once (each is held here until the other has arrived).
func TestAWarmResolveListsTheServiceAndItsClustersSideBySide(t *testing.T) {
	acts, sim := newActivities(t)
	env := activityEnv(t, withLookups(acts))
	in := demoInput()
	first := resolve(t, env, acts, in)
	require.Empty(t, first.Problems)

	releaseServices := sim.Block("POST /api/v1/de/listServices")
	releaseVcs := sim.Block("POST /api/v1/de/listVcs")
	defer releaseServices()
	defer releaseVcs()
	type answer struct {
		res activities.Resolution
		err error
	}
	done := make(chan answer, 1)
	go func() {
		var a answer
		val, err := env.ExecuteActivity(acts.ResolveTarget, in)
		if a.err = err; err == nil {
			a.err = val.Get(&a.res)
		}
		done <- a
	}()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, sim.AwaitBlocked(ctx, 2), "both listings held at once")
	releaseServices()
	releaseVcs()
	got := <-done
	require.NoError(t, got.err)
	assert.Empty(t, got.res.Problems)
	assert.Equal(t, first.Target, got.res.Target)
}

// Whether the service and the virtual cluster run is asked at every check: one stopped or
// deleted after a check that kept their facts is reported at the next check, as the reference
// reports it, and one started again is usable at once (its facts, kept by its id, still hold).
func TestResolveTargetReportsAtOnceAKeptClusterOrServiceThatStopped(t *testing.T) {
	vcStatus := func(status string) func(*testing.T, *cdesim.Sim) {
		return func(t *testing.T, sim *cdesim.Sim) {
			vc, ok := sim.VC(cdesim.DemoService, cdesim.DemoVC)
			require.True(t, ok)
			require.NoError(t, sim.SetVCStatus(vc.VCID, status))
		}
	}
	serviceStatus := func(status string) func(*testing.T, *cdesim.Sim) {
		return func(t *testing.T, sim *cdesim.Sim) {
			svc, ok := sim.Service(cdesim.DemoService)
			require.True(t, ok)
			require.NoError(t, sim.SetServiceStatus(svc.ClusterID, status))
		}
	}
	tests := []struct {
		name         string
		stop, start  func(*testing.T, *cdesim.Sim)
		field, rule  string
		message      string
		startedAgain bool
	}{
		{"virtual cluster stopped", vcStatus("AppDeleting"), vcStatus(cdesim.StatusVCRunning),
			"vc", descriptor.ClusterNotActive.Message, `virtual cluster "vc-dev" is AppDeleting`, true},
		{"virtual cluster deleted", vcStatus(cdesim.StatusVCDeleted), nil,
			"vc", descriptor.ClusterRecentlyDeleted.Message, "dex-app-dev00001", false},
		{"service stopped", serviceStatus("ClusterDeletionInProgress"), serviceStatus(cdesim.StatusServiceRunning),
			"svc", descriptor.ServiceNotRunning.Message, `service "cde-dev" is ClusterDeletionInProgress`, true},
		{"service deleted", serviceStatus(cdesim.StatusServiceDeleted), nil,
			"svc", descriptor.ServiceRecentlyDeleted.Message, "cluster-dev00001", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acts, sim := newActivities(t)
			env := activityEnv(t, withLookups(acts))
			in := demoInput()
			first := resolve(t, env, acts, in)
			require.Empty(t, first.Problems)
			sim.ResetRequests()
			require.Empty(t, resolve(t, env, acts, in).Problems)
			require.Equal(t, warmCheck, controlPlaneOps(sim), "everything kept")

			tt.stop(t, sim)
			sim.ResetRequests()
			res := resolve(t, env, acts, in)
			require.Len(t, res.Problems, 1, "reported at the next check")
			assert.Equal(t, tt.field, res.Problems[0].Field)
			assert.True(t, strings.HasPrefix(res.Problems[0].Message, tt.rule), "the reference's message first: %q", res.Problems[0].Message)
			assert.Contains(t, res.Problems[0].Message, tt.message)
			assert.Equal(t, warmCheck, controlPlaneOps(sim), "seen in the listings, nothing described")

			if !tt.startedAgain {
				return
			}
			tt.start(t, sim)
			sim.ResetRequests()
			again := resolve(t, env, acts, in)
			assert.Empty(t, again.Problems, "running again: usable at the next check")
			assert.Equal(t, first.Target, again.Target)
			assert.Equal(t, warmCheck, controlPlaneOps(sim))
		})
	}
}

// What is kept is keyed by the ids the listings return: a service or virtual cluster deleted
// and created again under the same name has new ids, and is described anew.
func TestResolveTargetDescribesAnewAServiceOrClusterCreatedAgainUnderTheSameName(t *testing.T) {
	t.Run("virtual cluster", func(t *testing.T) {
		acts, sim := newActivities(t)
		env := activityEnv(t, withLookups(acts))
		in := demoInput()
		old := resolve(t, env, acts, in)
		require.Empty(t, old.Problems)

		require.NoError(t, sim.SetVCStatus(old.Target.VcID, cdesim.StatusVCDeleted))
		created, err := sim.AddVC(context.Background(), old.Target.ServiceID, cdesim.VCSeed{Name: cdesim.DemoVC, VCID: "dex-app-dev00002"})
		require.NoError(t, err)
		require.NotEqual(t, old.Target.VcAPIURL, created.APIURL)

		sim.ResetRequests()
		res := resolve(t, env, acts, in)
		require.Empty(t, res.Problems)
		assert.Equal(t, created.VCID, res.Target.VcID)
		assert.Equal(t, created.APIURL, res.Target.VcAPIURL, "the new cluster's jobs API")
		assert.Equal(t, old.Target.ClusterFqdn, res.Target.ClusterFqdn)
		assert.Equal(t, plus(warmCheck, map[string]int{"de/describeVc": 1}), controlPlaneOps(sim),
			"the new cluster described; the service's facts still hold")

		sim.ResetRequests()
		assert.Equal(t, res.Target, resolve(t, env, acts, in).Target)
		assert.Equal(t, warmCheck, controlPlaneOps(sim), "kept from then on")
	})
	t.Run("service", func(t *testing.T) {
		acts, sim := newActivities(t)
		env := activityEnv(t, withLookups(acts))
		in := demoInput()
		old := resolve(t, env, acts, in)
		require.Empty(t, old.Problems)

		require.NoError(t, sim.SetServiceStatus(old.Target.ServiceID, cdesim.StatusServiceDeleted))
		created, err := sim.AddService(context.Background(), cdesim.ServiceSeed{Name: cdesim.DemoService, ClusterID: "cluster-dev00002",
			EnvironmentName: cdesim.DemoEnvironment, EnvironmentCRN: cdesim.DemoEnvironmentCRN, Status: cdesim.StatusServiceRunning,
			VirtualClusters: []cdesim.VCSeed{{Name: cdesim.DemoVC, VCID: "dex-app-dev00002", Status: cdesim.StatusVCRunning}}})
		require.NoError(t, err)
		require.Len(t, created.VCs, 1)
		require.NotEqual(t, old.Target.ClusterFqdn, created.ClusterFqdn)

		sim.ResetRequests()
		res := resolve(t, env, acts, in)
		require.Empty(t, res.Problems)
		assert.Equal(t, activities.Target{ServiceName: cdesim.DemoService, ServiceID: created.ClusterID, EnvironmentCRN: created.EnvironmentCRN,
			ClusterFqdn: created.ClusterFqdn, ClusterName: cdesim.DemoVC, VcID: created.VCs[0].VCID, VcAPIURL: created.VCs[0].APIURL,
			VcUIURL: strings.TrimSuffix(created.VCs[0].APIURL, "/api/v1") + "/ui/"}, res.Target)
		// The clusters of the old id were asked beside the listing, in vain: that request is
		// dropped as soon as the listing shows another id, so it may or may not reach CDP, and
		// may reach it after this check has ended (the simulator logs a request once handled).
		// It is told apart by its clusterId and left out of every count below.
		assert.Equal(t, coldCheck, controlPlaneOpsExcept(sim, old.Target.ServiceID), "the new service and cluster described")

		sim.ResetRequests()
		assert.Equal(t, res.Target, resolve(t, env, acts, in).Target)
		assert.Equal(t, warmCheck, controlPlaneOpsExcept(sim, old.Target.ServiceID), "kept from then on")
	})
}

// Only what describes a running service or virtual cluster is kept: one that is not running is
// never described, and is described at the first check that finds it running.
func TestResolveTargetKeepsTheFactsOfRunningOnesOnly(t *testing.T) {
	tests := []struct {
		name, service, cluster string
		stopped                func(t *testing.T, sim *cdesim.Sim)
		message                string
		whileStopped           map[string]int // the calls of each check while it is not running
		start                  func(t *testing.T, sim *cdesim.Sim)
		once                   map[string]int // the calls of the first check that finds it running
	}{
		{"virtual cluster being installed", "cde-stage", "vc-stage", func(*testing.T, *cdesim.Sim) {},
			descriptor.ClusterNotActive.Message,
			// The running service's id and facts are kept: after the first check, the listings only.
			warmCheck,
			func(t *testing.T, sim *cdesim.Sim) {
				vc, ok := sim.VC("cde-stage", "vc-stage")
				require.True(t, ok)
				require.NoError(t, sim.SetVCStatus(vc.VCID, cdesim.StatusVCRunning))
			},
			plus(warmCheck, map[string]int{"de/describeVc": 1})},
		{"service not running", cdesim.DemoService, cdesim.DemoVC, func(t *testing.T, sim *cdesim.Sim) {
			svc, ok := sim.Service(cdesim.DemoService)
			require.True(t, ok)
			require.NoError(t, sim.SetServiceStatus(svc.ClusterID, "ClusterCreationInProgress"))
		},
			descriptor.ServiceNotRunning.Message,
			// Not even its id is kept: the listing of the services only.
			map[string]int{"de/listServices": 1},
			func(t *testing.T, sim *cdesim.Sim) {
				svc, ok := sim.Service(cdesim.DemoService)
				require.True(t, ok)
				require.NoError(t, sim.SetServiceStatus(svc.ClusterID, cdesim.StatusServiceRunning))
			},
			coldCheck},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			acts, sim := newActivities(t)
			env := activityEnv(t, withLookups(acts))
			tt.stopped(t, sim)
			in := activities.ResolveInput{Service: tt.service, Cluster: tt.cluster, ServiceField: "svc", ClusterField: "vc"}
			for i := range 3 {
				sim.ResetRequests()
				res := resolve(t, env, acts, in)
				require.Len(t, res.Problems, 1, "check %d", i)
				assert.True(t, strings.HasPrefix(res.Problems[0].Message, tt.message), "check %d: %q", i, res.Problems[0].Message)
				if i > 0 {
					assert.Equal(t, tt.whileStopped, controlPlaneOps(sim), "check %d", i)
				}
			}
			tt.start(t, sim)
			sim.ResetRequests()
			res := resolve(t, env, acts, in)
			assert.Empty(t, res.Problems, "running now: seen at the next check")
			assert.NotEmpty(t, res.Target.VcAPIURL)
			assert.Equal(t, tt.once, controlPlaneOps(sim), "described once running")

			sim.ResetRequests()
			assert.Equal(t, res.Target, resolve(t, env, acts, in).Target)
			assert.Equal(t, warmCheck, controlPlaneOps(sim), "kept from then on")
		})
	}
}

func TestResolveTargetWithoutCacheAsksCDPEveryTime(t *testing.T) {
	for name, lookups := range map[string]*activities.Lookups{
		"no Lookups": nil, "TTL 0": activities.NewLookups(0), "TTL 0, literal": {},
	} {
		t.Run(name, func(t *testing.T) {
			acts, sim := newActivities(t)
			acts.Lookups = lookups
			env := activityEnv(t, acts)
			in := demoInput()
			in.IDBrokerHosts = true
			var first activities.Target
			for i := range 3 {
				sim.ResetRequests()
				res := resolve(t, env, acts, in)
				require.Empty(t, res.Problems)
				assert.Equal(t, []string{"10.10.1.10", "10.10.1.11"}, res.IDBrokerHosts)
				assert.Equal(t, plus(coldCheck, hostsLookup), controlPlaneOps(sim), "check %d asks CDP everything", i)
				if i == 0 {
					first = res.Target
				}
				assert.Equal(t, first, res.Target)
			}
		})
	}
}

// A provision's check also looks up the idbroker hosts; kept like the rest.
func TestResolveTargetLooksUpAndKeepsTheIDBrokerHosts(t *testing.T) {
	acts, sim := newActivities(t)
	env := activityEnv(t, withLookups(acts))
	in := demoInput()
	in.IDBrokerHosts = true
	want := []string{"10.10.1.10", "10.10.1.11"}

	assert.Empty(t, resolve(t, env, acts, demoInput()).IDBrokerHosts, "asked only when the input says so")
	assert.Equal(t, coldCheck, controlPlaneOps(sim), "no datalake call")

	sim.ResetRequests()
	first := resolve(t, env, acts, in)
	require.Empty(t, first.Problems)
	assert.Equal(t, want, first.IDBrokerHosts)
	assert.Equal(t, plus(warmCheck, hostsLookup), controlPlaneOps(sim))

	sim.ResetRequests()
	second := resolve(t, env, acts, in)
	assert.Equal(t, want, second.IDBrokerHosts)
	assert.Equal(t, warmCheck, controlPlaneOps(sim), "hosts kept")

	// The activity of the runs before the lean ones reads the same cache.
	sim.ResetRequests()
	val, err := env.ExecuteActivity(acts.IDBrokerHosts, first.Target)
	require.NoError(t, err)
	var hosts []string
	require.NoError(t, val.Get(&hosts))
	assert.Equal(t, want, hosts)
	assert.Equal(t, 0, controlPlaneCalls(sim))
}

// A jobs-API request that fails for good in a way that says the virtual cluster may not be what
// CDP said drops what is kept of it, its service and its environment: the next check describes
// them again, and looks the idbroker hosts up again. A failure about the object asked for keeps
// it all.
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
			in := demoInput()
			in.IDBrokerHosts = true
			target := resolve(t, env, acts, in).Target
			sim.ResetRequests()
			require.Equal(t, target, resolve(t, env, acts, in).Target)
			require.Equal(t, warmCheck, controlPlaneOps(sim), "everything kept")

			tt.fail(sim)
			require.Error(t, tt.call(env, acts, target), "the jobs-API call fails")
			sim.ClearFaults()

			sim.ResetRequests()
			res := resolve(t, env, acts, in)
			require.Empty(t, res.Problems)
			assert.Equal(t, target, res.Target)
			if tt.forget {
				assert.Equal(t, plus(coldCheck, hostsLookup), controlPlaneOps(sim), "dropped: described and looked up again")
				sim.ResetRequests()
				resolve(t, env, acts, in)
				assert.Equal(t, warmCheck, controlPlaneOps(sim), "kept again")
			} else {
				assert.Equal(t, warmCheck, controlPlaneOps(sim), "kept")
			}
		})
	}
}

// An unprovision's check is fresh: nothing kept is used (it lists the services without guessing
// their id, and describes the service and cluster again), and what it finds is kept for the
// others.
func TestAFreshResolveAsksCDPWhateverIsKept(t *testing.T) {
	acts, sim := newActivities(t)
	env := activityEnv(t, withLookups(acts))
	in := demoInput()
	first := resolve(t, env, acts, in)
	require.Empty(t, first.Problems)

	fresh := in
	fresh.Fresh = true
	for i := range 2 {
		sim.ResetRequests()
		again := resolve(t, env, acts, fresh)
		assert.Equal(t, coldCheck, controlPlaneOps(sim), "fresh check %d describes again", i)
		assert.Equal(t, first.Target, again.Target)
	}

	sim.ResetRequests()
	assert.Equal(t, first.Target, resolve(t, env, acts, in).Target)
	assert.Equal(t, warmCheck, controlPlaneOps(sim), "what the fresh check found is kept")

	// A fresh check reports at once a cluster deleted since, as any check does.
	require.NoError(t, sim.SetVCStatus(first.Target.VcID, cdesim.StatusVCDeleted))
	sim.ResetRequests()
	gone := resolve(t, env, acts, fresh)
	require.Len(t, gone.Problems, 1)
	assert.Equal(t, "vc", gone.Problems[0].Field)
	assert.True(t, strings.HasPrefix(gone.Problems[0].Message, descriptor.ClusterRecentlyDeleted.Message), gone.Problems[0].Message)
	assert.Equal(t, map[string]int{"de/listServices": 1, "de/describeService": 1, "de/listVcs": 1}, controlPlaneOps(sim))
}
