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
