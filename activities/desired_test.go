package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// desiredPut is the simulator's route of a write of the desired state.
func (f *manifestFixture) desiredPut() string {
	return "PUT /dex/api/v1/resources/" + f.manifestRes + "/" + activities.DesiredStatePath
}

func (f *manifestFixture) readDesired(t *testing.T) (activities.DesiredState, bool) {
	t.Helper()
	jobs, err := cde.NewJobsClient(f.target.VcAPIURL, f.acts.Tokens.ForHost(f.target.ClusterFqdn), f.acts.HTTP)
	require.NoError(t, err)
	state, found, err := activities.ReadDesiredState(context.Background(), jobs, f.in.Specific.JobName)
	require.NoError(t, err)
	return state, found
}

// desiredWrites counts the writes of the desired state the simulator received.
func (f *manifestFixture) desiredWrites() int {
	n := 0
	for _, r := range f.sim.Requests() {
		if r.Method == http.MethodPut && strings.HasSuffix(r.Path, "/"+activities.DesiredStatePath) {
			n++
		}
	}
	return n
}

func (f *manifestFixture) upsert(t *testing.T) activities.JobInfo {
	t.Helper()
	val, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.UpsertJob, f.in)
	require.NoError(t, err)
	var job activities.JobInfo
	require.NoError(t, val.Get(&job))
	return job
}

func TestUpsertJobRecordsTheJobAsSentBesideIt(t *testing.T) {
	f := newManifestFixture(t)
	_, found := f.readDesired(t)
	assert.False(t, found, "no desired state recorded before the first provision")

	job := f.upsert(t)
	assert.True(t, job.Created)
	assert.Empty(t, job.DesiredStateWarning)
	assert.Empty(t, job.Changes, "a created job has no field changes")
	state, found := f.readDesired(t)
	require.True(t, found)
	want := activities.BuildJob(f.in.Specific, nil)
	want.Spark.Conf[descriptor.ConfOwnerKey] = manifestOwner
	assert.Equal(t, activities.DesiredState{Version: 1, ComponentID: manifestOwner, JobName: f.in.Specific.JobName, Job: want}, state)

	// Unchanged, it is not written again.
	f.sim.ResetRequests()
	job = f.upsert(t)
	assert.False(t, job.Created)
	assert.Empty(t, job.Changes, "already up to date")
	assert.Zero(t, f.desiredWrites())

	// Changed, the update says what changed and the new state is recorded.
	mem := "2g"
	f.in.Specific.JobConfig = &descriptor.JobConfig{DriverMemory: &mem, Conf: map[string]string{"spark.hadoop.fs.s3a.secret.key": "s3cr3t-value"}}
	job = f.upsert(t)
	assert.Contains(t, job.Changes, activities.JobFieldChange{Field: "spark.driverMemory", Old: "1g", New: "2g"})
	assert.Contains(t, job.Changes, activities.JobFieldChange{Field: "spark.conf.spark.hadoop.fs.s3a.secret.key", Old: activities.Unset, New: activities.MaskedValue, Masked: true})
	raw, err := json.Marshal(job)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "s3cr3t-value", "no secret in the result (history)")
	state, found = f.readDesired(t)
	require.True(t, found)
	assert.Equal(t, "2g", state.Job.Spark.DriverMemory)
	assert.Equal(t, "s3cr3t-value", state.Job.Spark.Conf["spark.hadoop.fs.s3a.secret.key"], "the state is the job as sent")
}

// Runs of older workflow versions did not create the manifest's resource: the write answers
// 404, the resource is created and the state written again.
func TestTheDesiredStateIsWrittenEvenWhenItsResourceIsMissing(t *testing.T) {
	f := newManifestFixture(t)
	f.in.Manifest = nil
	_, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.DeleteResource, activities.DeleteInput{Target: f.target, Name: f.manifestRes})
	require.NoError(t, err)
	f.sim.ResetRequests()

	job := f.upsert(t)
	assert.Empty(t, job.DesiredStateWarning)
	assert.Equal(t, 2, f.desiredWrites())
	_, err = f.sim.Resource(f.target.VcID, f.manifestRes)
	require.NoError(t, err, "the resource was created")
	_, found := f.readDesired(t)
	assert.True(t, found)
}

// A desired state that cannot be recorded for good does not undo the deployed job: a warning.
func TestUpsertJobTurnsAPermanentDesiredStateFailureIntoAWarning(t *testing.T) {
	f := newManifestFixture(t)
	f.sim.FailNext(f.desiredPut(), -1, cdesim.Failure{Status: http.StatusBadRequest})
	job := f.upsert(t)
	assert.True(t, job.Created)
	assert.Empty(t, job.ManifestWarning)
	assert.Contains(t, job.DesiredStateWarning, "write the desired state of job "+f.in.Specific.JobName)
	assert.Contains(t, job.DesiredStateWarning, "400")
	f.jobDeployed(t)
	_, found := f.readDesired(t)
	assert.False(t, found)
}

// A transient one fails the first attempt, retryably: the next attempt converges on the same job.
func TestUpsertJobRetriesATransientDesiredStateFailure(t *testing.T) {
	f := newManifestFixture(t)
	f.sim.FailNext(f.desiredPut(), -1, cdesim.Failure{Status: http.StatusServiceUnavailable})
	_, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.UpsertJob, f.in)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, activities.ErrTypeTransient, appErr.Type())
	assert.False(t, appErr.NonRetryable())
	f.jobDeployed(t)
}
