package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

const manifestOwner = "urn:dmb:cmp:fin:cash:0:wl"

// manifestFixture is a job whose main resource exists, and the upsert of it that records its
// manifest (in the manifest's resource of its own) beside.
type manifestFixture struct {
	acts        *activities.Activities
	sim         *cdesim.Sim
	target      activities.Target
	in          activities.JobInput
	manifestRes string
}

func newManifestFixture(t *testing.T) *manifestFixture {
	t.Helper()
	acts, sim := newActivities(t)
	target := demoTarget(t, acts)
	spec := descriptor.Specific{Kind: descriptor.SparkJar, CDEService: cdesim.DemoService, CDECluster: cdesim.DemoVC,
		JobName: "fin-cash-0-wl-development", Jar: "s3://artifacts/app.jar", ClassName: "com.example.App"}
	mainRes := descriptor.MainResourceName(spec.JobName)
	sync := activities.SyncInput{Target: target, ManifestResource: descriptor.ManifestResourceName(spec.JobName), ComponentID: manifestOwner,
		Resources: []activities.ResourceFiles{{Resource: mainRes, Type: cde.ResourceTypeFiles}}}
	_, err := activityEnv(t, acts).ExecuteActivity(acts.SyncFiles, sync)
	require.NoError(t, err)
	return &manifestFixture{acts: acts, sim: sim, target: target, manifestRes: sync.ManifestResource,
		in: activities.JobInput{Target: target, Specific: spec, ComponentID: manifestOwner, JobField: "jobName", Manifest: &sync}}
}

// failManifestWrites makes every write of the manifest file fail with status.
func (f *manifestFixture) failManifestWrites(status int) {
	f.sim.FailNext("PUT /dex/api/v1/resources/"+f.manifestRes+"/"+activities.ManifestPath, -1, cdesim.Failure{Status: status})
}

func (f *manifestFixture) jobDeployed(t *testing.T) {
	t.Helper()
	stored, err := f.sim.Job(f.target.VcID, f.in.Specific.JobName)
	require.NoError(t, err, "the job is deployed")
	assert.Contains(t, string(stored), `"`+descriptor.ConfOwnerKey+`":"`+manifestOwner+`"`)
}

func TestUpsertJobRecordsTheManifestBeside(t *testing.T) {
	f := newManifestFixture(t)
	val, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.UpsertJob, f.in)
	require.NoError(t, err)
	var job activities.JobInfo
	require.NoError(t, val.Get(&job))
	assert.True(t, job.Created)
	assert.Empty(t, job.ManifestWarning)
	f.jobDeployed(t)

	raw, ok := f.sim.FileBytes(f.target.VcID, f.manifestRes, activities.ManifestPath)
	require.True(t, ok, "the manifest is in its resource")
	var m struct {
		Version int    `json:"version"`
		Owner   string `json:"owner"`
	}
	require.NoError(t, json.Unmarshal(raw, &m), "%s", raw)
	assert.Equal(t, 1, m.Version)
	assert.Equal(t, manifestOwner, m.Owner)
}

// A manifest that cannot be recorded for good does not undo the deployed job: the upsert
// succeeds and says why (the next provision uploads every file again).
func TestUpsertJobTurnsAPermanentManifestFailureIntoAWarning(t *testing.T) {
	f := newManifestFixture(t)
	f.failManifestWrites(http.StatusBadRequest)
	val, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.UpsertJob, f.in)
	require.NoError(t, err)
	var job activities.JobInfo
	require.NoError(t, val.Get(&job))
	assert.True(t, job.Created)
	assert.Contains(t, job.ManifestWarning, "write the upload manifest to resource "+f.manifestRes)
	assert.Contains(t, job.ManifestWarning, "400")
	f.jobDeployed(t)
	_, ok := f.sim.FileBytes(f.target.VcID, f.manifestRes, activities.ManifestPath)
	assert.False(t, ok, "no manifest")
}

// A transient failure of the manifest fails the first attempt with a retryable error: the next
// attempt upserts the same job again and records the manifest.
func TestUpsertJobRetriesATransientManifestFailure(t *testing.T) {
	f := newManifestFixture(t)
	f.failManifestWrites(http.StatusServiceUnavailable)
	_, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.UpsertJob, f.in)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, activities.ErrTypeTransient, appErr.Type())
	assert.False(t, appErr.NonRetryable())
	f.jobDeployed(t) // already; the retry converges on it
}

// upsertWithRetries is a workflow that runs UpsertJob with the retries of a real run.
func upsertWithRetries(ctx workflow.Context, in activities.JobInput) (activities.JobInfo, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 10},
	})
	var acts *activities.Activities
	var job activities.JobInfo
	err := workflow.ExecuteActivity(ctx, acts.UpsertJob, in).Get(ctx, &job)
	return job, err
}

// Through Temporal's retries (the workflow test environment's clock, no waiting): a manifest that
// keeps failing transiently is retried with the upsert for the first attempts, then given up as
// a warning, so the provision goes on with its job deployed.
func TestUpsertJobGivesUpATransientManifestFailureAfterItsAttempts(t *testing.T) {
	tests := []struct {
		name            string
		failures        int // manifest writes failing with 503, counted across every retry
		attempts        int32
		warning         bool
		manifestWritten bool
	}{
		// The first attempt's request is tried DefaultRetryAttempts times by the jobs client.
		{"recorded at the second attempt", cde.DefaultRetryAttempts, 2, false, true},
		{"given up after the third attempt", -1, 3, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newManifestFixture(t)
			f.sim.FailNext("PUT /dex/api/v1/resources/"+f.manifestRes+"/"+activities.ManifestPath, tt.failures,
				cdesim.Failure{Status: http.StatusServiceUnavailable})
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterWorkflow(upsertWithRetries)
			env.RegisterActivity(f.acts)
			var attempts atomic.Int32
			env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
				if info.ActivityType.Name == "UpsertJob" {
					attempts.Store(info.Attempt)
				}
			})
			env.ExecuteWorkflow(upsertWithRetries, f.in)
			require.True(t, env.IsWorkflowCompleted())
			require.NoError(t, env.GetWorkflowError())
			var job activities.JobInfo
			require.NoError(t, env.GetWorkflowResult(&job))
			assert.Equal(t, tt.attempts, attempts.Load(), "last attempt")
			assert.Equal(t, tt.warning, job.ManifestWarning != "", "warning %q", job.ManifestWarning)
			f.jobDeployed(t)
			_, ok := f.sim.FileBytes(f.target.VcID, f.manifestRes, activities.ManifestPath)
			assert.Equal(t, tt.manifestWritten, ok)
		})
	}
}
