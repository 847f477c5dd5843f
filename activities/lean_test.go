package activities_test

import (
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

// The requests of the lean provision's steps: what SyncFiles asks before its uploads, and how
// UpsertJob writes a job that was absent.

const (
	leanOwner = "urn:dmb:cmp:fin:cash:0:wl"
	leanOther = "urn:dmb:cmp:fin:other:0:wl"
	leanJob   = "fin-cash-0-wl-development"
)

func leanSync(t *testing.T, f *syncFixture, component string, objs []activities.ArtifactObject) activities.SyncInput {
	t.Helper()
	mainRes := descriptor.MainResourceName(leanJob)
	return activities.SyncInput{
		Target: f.target, ManifestResource: descriptor.ManifestResourceName(leanJob), ComponentID: component,
		Resources:  []activities.ResourceFiles{{Resource: mainRes, Type: cde.ResourceTypeFiles, Objects: objs}},
		OwnerCheck: &activities.OwnerCheck{JobName: leanJob, JobField: "specific.jobName"},
	}
}

func leanSpec() descriptor.Specific {
	return descriptor.Specific{Kind: descriptor.SparkJar, CDEService: "cde-dev", CDECluster: "vc-dev",
		JobName: leanJob, Jar: "s3://artifacts/app.jar", ClassName: "com.example.App"}
}

// vcRequests are the simulator's jobs-API requests since the last reset, as "METHOD path".
func vcRequests(sim *cdesim.Sim) []string {
	var out []string
	for _, r := range sim.Requests() {
		if strings.HasPrefix(r.Target, "vc:") {
			out = append(out, r.Method+" "+strings.TrimPrefix(r.Path, "/dex/api/v1"))
		}
	}
	return out
}

func TestANewComponentsFirstRoundCreatesBothResourcesAndReadsTheJobBesideThem(t *testing.T) {
	f := newSyncFixture(t)
	f.put(t, "app.jar", "jar")
	in := leanSync(t, f, leanOwner, f.objects(t, "app.jar"))
	f.sim.ResetRequests()

	val, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.SyncFiles, in)
	require.NoError(t, err)
	var res activities.SyncResult
	require.NoError(t, val.Get(&res))
	assert.True(t, res.JobAbsent)
	assert.True(t, res.ManifestStale)

	got := vcRequests(f.sim)
	require.Len(t, got, 5, "%q", got)
	// Four requests side by side (in any order), then the upload.
	assert.ElementsMatch(t, []string{
		"POST /resources", "POST /resources",
		"GET /resources/" + in.ManifestResource, "GET /jobs/" + leanJob,
	}, got[:4])
	assert.Equal(t, "PUT /resources/"+in.Resources[0].Resource+"/app.jar", got[4])
	_, err = f.sim.Resource(f.vcID, in.ManifestResource)
	require.NoError(t, err, "the manifest's resource is ready for RecordManifest")

	// The upsert creates the absent job straight away, and records the manifest beside it, into
	// the resource that is there already.
	f.sim.ResetRequests()
	val, err = activityEnv(t, f.acts).ExecuteActivity(f.acts.UpsertJob, activities.JobInput{Target: f.target, Specific: leanSpec(),
		ComponentID: leanOwner, JobAbsent: res.JobAbsent, Manifest: &in})
	require.NoError(t, err)
	var job activities.JobInfo
	require.NoError(t, val.Get(&job))
	assert.True(t, job.Created)
	assert.Empty(t, job.ManifestWarning)
	got = vcRequests(f.sim)
	assert.NotContains(t, got, "POST /resources", "no resource is created for the manifest: %q", got)
	jobCalls := []string{}
	for _, r := range got {
		if strings.Contains(r, "/jobs") {
			jobCalls = append(jobCalls, r)
		}
	}
	assert.Equal(t, []string{"POST /jobs", "GET /jobs/" + leanJob}, jobCalls)
	_, ok := f.sim.FileBytes(f.vcID, in.ManifestResource, activities.ManifestPath)
	assert.True(t, ok, "the manifest is recorded")
}

func TestTheFirstRoundRefusesAnotherComponentsJobBeforeUploadingAnything(t *testing.T) {
	f := newSyncFixture(t)
	f.put(t, "app.jar", "jar")
	objs := f.objects(t, "app.jar")
	env := activityEnv(t, f.acts)
	_, err := env.ExecuteActivity(f.acts.SyncFiles, leanSync(t, f, leanOther, objs))
	require.NoError(t, err)
	_, err = env.ExecuteActivity(f.acts.UpsertJob, activities.JobInput{Target: f.target, Specific: leanSpec(), ComponentID: leanOther})
	require.NoError(t, err)
	before := f.sim.UploadedBytes(f.vcID, descriptor.MainResourceName(leanJob))

	_, err = env.ExecuteActivity(f.acts.SyncFiles, leanSync(t, f, leanOwner, objs))
	appErr := ownershipRefusal(t, err)
	assert.True(t, appErr.NonRetryable())
	var p descriptor.Problem
	require.NoError(t, appErr.Details(&p))
	assert.Equal(t, "specific.jobName", p.Field)
	assert.Contains(t, p.Message, leanOther)
	assert.Equal(t, before, f.sim.UploadedBytes(f.vcID, descriptor.MainResourceName(leanJob)), "nothing uploaded")
}

func TestTheFirstRoundRefusesResourcesWhoseManifestNamesAnotherOwner(t *testing.T) {
	f := newSyncFixture(t)
	f.put(t, "app.jar", "jar")
	objs := f.objects(t, "app.jar")
	env := activityEnv(t, f.acts)
	// The other component provisioned, then its job was deleted by hand: its resources and
	// manifest remain, and still say whose they are.
	other := leanSync(t, f, leanOther, objs)
	_, err := env.ExecuteActivity(f.acts.SyncFiles, other)
	require.NoError(t, err)
	_, err = env.ExecuteActivity(f.acts.RecordManifest, other)
	require.NoError(t, err)
	before := f.sim.UploadedBytes(f.vcID, descriptor.MainResourceName(leanJob))

	_, err = env.ExecuteActivity(f.acts.SyncFiles, leanSync(t, f, leanOwner, objs))
	ownershipRefusal(t, err)
	assert.Equal(t, before, f.sim.UploadedBytes(f.vcID, descriptor.MainResourceName(leanJob)), "nothing uploaded")

	// Its own component goes on, and finds the job absent.
	val, err := env.ExecuteActivity(f.acts.SyncFiles, other)
	require.NoError(t, err)
	var res activities.SyncResult
	require.NoError(t, val.Get(&res))
	assert.True(t, res.JobAbsent)
}

func TestCreateFirstFallsBackToTheOwnerCheckWhenTheJobAppeared(t *testing.T) {
	f := newSyncFixture(t)
	env := activityEnv(t, f.acts)
	_, err := env.ExecuteActivity(f.acts.SyncFiles, leanSync(t, f, leanOwner, nil))
	require.NoError(t, err)
	// Another component claimed the name since the first round: the POST answers 409, the job is
	// read, and refused.
	_, err = env.ExecuteActivity(f.acts.UpsertJob, activities.JobInput{Target: f.target, Specific: leanSpec(), ComponentID: leanOther})
	require.NoError(t, err)
	stored, err := f.sim.Job(f.vcID, leanJob)
	require.NoError(t, err)

	_, err = env.ExecuteActivity(f.acts.UpsertJob, activities.JobInput{Target: f.target, Specific: leanSpec(), ComponentID: leanOwner,
		JobField: "specific.jobName", JobAbsent: true})
	ownershipRefusal(t, err)
	after, err := f.sim.Job(f.vcID, leanJob)
	require.NoError(t, err)
	assert.JSONEq(t, string(stored), string(after))

	// Its owner's own retry (an earlier attempt created it) updates it.
	val, err := env.ExecuteActivity(f.acts.UpsertJob, activities.JobInput{Target: f.target, Specific: leanSpec(), ComponentID: leanOther, JobAbsent: true})
	require.NoError(t, err)
	var job activities.JobInfo
	require.NoError(t, val.Get(&job))
	assert.False(t, job.Created)
}

func TestTheManifestIsWrittenEvenWhenItsResourceIsMissing(t *testing.T) {
	f := newSyncFixture(t)
	f.put(t, "app.jar", "jar")
	in := leanSync(t, f, leanOwner, f.objects(t, "app.jar"))
	env := activityEnv(t, f.acts)
	_, err := env.ExecuteActivity(f.acts.SyncFiles, in)
	require.NoError(t, err)
	// Deleted by hand between the sync and the record: the write is refused, the resource is
	// created, and the write is made again.
	_, err = env.ExecuteActivity(f.acts.DeleteResource, activities.DeleteInput{Target: f.target, Name: in.ManifestResource})
	require.NoError(t, err)
	f.sim.ResetRequests()
	_, err = env.ExecuteActivity(f.acts.RecordManifest, in)
	require.NoError(t, err)
	_, ok := f.sim.FileBytes(f.vcID, in.ManifestResource, activities.ManifestPath)
	assert.True(t, ok)
	var puts int
	for _, r := range f.sim.Requests() {
		if r.Method == http.MethodPut {
			puts++
		}
	}
	assert.Equal(t, 2, puts)
}

// ownershipRefusal is err as the refusal to touch another component's job (ErrTypeOwnership).
func ownershipRefusal(t *testing.T, err error) *temporal.ApplicationError {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, activities.ErrTypeOwnership, appErr.Type())
	return appErr
}
