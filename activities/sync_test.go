package activities_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
)

// syncFixture is a simulator, a local S3 and activities on both, with a files resource ready.
type syncFixture struct {
	acts   *activities.Activities
	sim    *cdesim.Sim
	s3     *s3local.Server
	target activities.Target
	vcID   string
}

const syncRes = "mainres-sync"

func newSyncFixture(t *testing.T) *syncFixture {
	t.Helper()
	acts, sim := newActivities(t)
	ctx := context.Background()
	s3, err := s3local.Start(ctx, s3local.Options{Addr: "127.0.0.1:0", Buckets: []string{"artifacts"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s3.Close() })
	store, err := artifacts.New(ctx, artifacts.Config{UsePathStyle: true}, artifacts.WithEndpoint(s3.URL()),
		artifacts.WithStaticCredentials(s3local.AccessKeyID, s3local.SecretAccessKey, ""), artifacts.WithRegion(s3local.Region))
	require.NoError(t, err)
	acts.Store = store
	acts.UploadConcurrency = 3

	target := demoTarget(t, acts)
	return &syncFixture{acts: acts, sim: sim, s3: s3, target: target, vcID: target.VcID}
}

func (f *syncFixture) put(t *testing.T, key, content string) {
	t.Helper()
	require.NoError(t, f.s3.Put(context.Background(), "artifacts", key, strings.NewReader(content), int64(len(content))))
}

// objects checks the artifacts on S3 as the workflow does before syncing.
func (f *syncFixture) objects(t *testing.T, keys ...string) []activities.ArtifactObject {
	t.Helper()
	var arts []descriptor.Artifact
	for _, k := range keys {
		arts = append(arts, descriptor.Artifact{Role: descriptor.RoleDependency, Field: "f", Location: descriptor.S3Location{Bucket: "artifacts", Key: k}})
	}
	val, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.CheckArtifacts, arts)
	require.NoError(t, err)
	var check activities.ArtifactsCheck
	require.NoError(t, val.Get(&check))
	require.Empty(t, check.Problems)
	return check.Objects
}

// sync runs SyncFiles, then RecordManifest when it says so, as the workflow does.
func (f *syncFixture) sync(t *testing.T, objs []activities.ArtifactObject) activities.SyncResult {
	t.Helper()
	in := activities.SyncInput{
		Target: f.target, ManifestResource: syncRes,
		Resources: []activities.ResourceFiles{{Resource: syncRes, Type: cde.ResourceTypeFiles, Objects: objs, Prune: true}},
	}
	val, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.SyncFiles, in)
	require.NoError(t, err)
	var res activities.SyncResult
	require.NoError(t, val.Get(&res))
	if res.ManifestStale {
		_, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.RecordManifest, in)
		require.NoError(t, err)
	}
	return res
}

func actions(res activities.SyncResult) map[string]string {
	out := map[string]string{}
	for _, f := range res.Files {
		out[f.Path] = f.Action
	}
	return out
}

func (f *syncFixture) stored(t *testing.T, path string) []byte {
	t.Helper()
	b, ok := f.sim.FileBytes(f.vcID, syncRes, path)
	require.True(t, ok, "%s is stored", path)
	return b
}

func TestSyncUploadsOnlyWhatChanged(t *testing.T) {
	f := newSyncFixture(t)
	f.put(t, "v1/app.jar", "application v1")
	f.put(t, "libs/a.jar", "library a")
	f.put(t, "libs/b.jar", "library b")

	first := f.sync(t, f.objects(t, "v1/app.jar", "libs/a.jar", "libs/b.jar"))
	assert.Equal(t, map[string]string{"app.jar": "uploaded", "a.jar": "uploaded", "b.jar": "uploaded"}, actions(first))
	assert.EqualValues(t, len("application v1")+len("library a")+len("library b"), first.BytesSent)

	before := f.sim.UploadedBytes(f.vcID, syncRes)
	again := f.sync(t, f.objects(t, "v1/app.jar", "libs/a.jar", "libs/b.jar"))
	assert.Equal(t, map[string]string{"app.jar": "unchanged", "a.jar": "unchanged", "b.jar": "unchanged"}, actions(again))
	assert.Zero(t, again.BytesSent, "an unchanged redeploy sends nothing")
	assert.Equal(t, before, f.sim.UploadedBytes(f.vcID, syncRes), "not even the manifest")

	// A new version of one object on S3 is uploaded; the others are not.
	f.put(t, "libs/a.jar", "library a, version 2")
	changed := f.sync(t, f.objects(t, "v1/app.jar", "libs/a.jar", "libs/b.jar"))
	assert.Equal(t, map[string]string{"app.jar": "unchanged", "a.jar": "uploaded", "b.jar": "unchanged"}, actions(changed))
	assert.Equal(t, "library a, version 2", string(f.stored(t, "a.jar")))

	// A file changed in CDE behind the provisioner's back is put right.
	require.NoError(t, f.sim.PutFile(f.vcID, syncRes, "b.jar", []byte("tampered")))
	fixed := f.sync(t, f.objects(t, "v1/app.jar", "libs/a.jar", "libs/b.jar"))
	assert.Equal(t, "uploaded", actions(fixed)["b.jar"])
	assert.Equal(t, "library b", string(f.stored(t, "b.jar")))

	// The same file name from another S3 location is another artifact.
	f.put(t, "v2/app.jar", "application v1")
	moved := f.sync(t, f.objects(t, "v2/app.jar", "libs/a.jar", "libs/b.jar"))
	assert.Equal(t, "uploaded", actions(moved)["app.jar"])
}

func TestSyncRemovesFilesTheDescriptorNoLongerLists(t *testing.T) {
	f := newSyncFixture(t)
	f.put(t, "app.jar", "app")
	f.put(t, "libs/old.jar", "old")
	f.sync(t, f.objects(t, "app.jar", "libs/old.jar"))

	res := f.sync(t, f.objects(t, "app.jar"))
	assert.Equal(t, map[string]string{"app.jar": "unchanged", "old.jar": "removed"}, actions(res))
	_, ok := f.sim.FileBytes(f.vcID, syncRes, "old.jar")
	assert.False(t, ok)
	_, ok = f.sim.FileBytes(f.vcID, syncRes, activities.ManifestPath)
	assert.True(t, ok, "the manifest stays")
}

func TestSyncUploadsEverythingWhenTheManifestIsUnreadable(t *testing.T) {
	f := newSyncFixture(t)
	f.put(t, "app.jar", "app")
	f.sync(t, f.objects(t, "app.jar"))
	require.NoError(t, f.sim.PutFile(f.vcID, syncRes, activities.ManifestPath, []byte("not json")))
	res := f.sync(t, f.objects(t, "app.jar"))
	assert.Equal(t, "uploaded", actions(res)["app.jar"])
}

func TestSyncResumesAfterTheFilesAPreviousAttemptUploaded(t *testing.T) {
	f := newSyncFixture(t)
	f.put(t, "a.jar", "a")
	f.put(t, "b.jar", "b")
	objs := f.objects(t, "a.jar", "b.jar")
	// The first attempt created the resource, uploaded a.jar, heartbeated it, and its worker died.
	f.sync(t, nil)
	require.NoError(t, f.sim.PutFile(f.vcID, syncRes, "a.jar", []byte("a")))
	f.sim.ResetRequests()

	env := activityEnv(t, f.acts)
	env.SetHeartbeatDetails(map[string]any{"done": []string{syncRes + "/a.jar"}, "bytesSent": 1})
	// The resource exists, as the crashed attempt had created it.
	val, err := env.ExecuteActivity(f.acts.SyncFiles, activities.SyncInput{Target: f.target, ManifestResource: syncRes,
		Resources: []activities.ResourceFiles{{Resource: syncRes, Type: cde.ResourceTypeFiles, Objects: objs, Prune: true}}})
	require.NoError(t, err)
	var res activities.SyncResult
	require.NoError(t, val.Get(&res))
	require.True(t, res.ManifestStale)
	_, err = activityEnv(t, f.acts).ExecuteActivity(f.acts.RecordManifest, activities.SyncInput{Target: f.target, ManifestResource: syncRes,
		Resources: []activities.ResourceFiles{{Resource: syncRes, Type: cde.ResourceTypeFiles, Objects: objs, Prune: true}}})
	require.NoError(t, err)
	uploads := 0
	for _, r := range f.sim.Requests() {
		if r.Method == http.MethodPut && !strings.HasSuffix(r.Path, activities.ManifestPath) {
			uploads++
			assert.True(t, strings.HasSuffix(r.Path, "/b.jar"), "only the file not done yet is sent: %s", r.Path)
		}
	}
	assert.Equal(t, 1, uploads)
	assert.EqualValues(t, 2, res.BytesSent, "a.jar, sent by the first attempt, and b.jar")
	// The manifest records both, so the next deploy skips both.
	again := f.sync(t, objs)
	assert.Equal(t, map[string]string{"a.jar": "unchanged", "b.jar": "unchanged"}, actions(again))
}

func TestSyncStreamsLargeFiles(t *testing.T) {
	f := newSyncFixture(t)
	const size = 16 << 20
	content := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	require.NoError(t, f.s3.Put(context.Background(), "artifacts", "big/app.jar", bytes.NewReader(content), size))
	res := f.sync(t, f.objects(t, "big/app.jar"))
	assert.EqualValues(t, size, res.BytesSent)
	assert.True(t, bytes.Equal(content, f.stored(t, "app.jar")))
}

func TestSyncRebuildsAPythonEnvironmentForANewPythonVersion(t *testing.T) {
	f := newSyncFixture(t)
	f.put(t, "py/requirements.txt", "pandas==2.2.3\n")
	reqs := f.objects(t, "py/requirements.txt")
	env := activityEnv(t, f.acts)
	sync := func(version string) activities.ResourceSync {
		val, err := env.ExecuteActivity(f.acts.SyncFiles, activities.SyncInput{Target: f.target, ManifestResource: syncRes,
			Resources: []activities.ResourceFiles{
				{Resource: syncRes, Type: cde.ResourceTypeFiles, Prune: true},
				{Resource: "pyenvres-x", Type: cde.ResourceTypePythonEnv, PythonVersion: version, PyMirror: "https://pypi.example.com/simple", Objects: reqs},
			}})
		require.NoError(t, err)
		var out activities.SyncResult
		require.NoError(t, val.Get(&out))
		return out.Resources[1]
	}
	assert.Equal(t, activities.EnsureResult{Created: true}, sync("python2").EnsureResult)
	assert.Equal(t, activities.EnsureResult{}, sync("python2").EnsureResult, "same version: kept")
	assert.Equal(t, activities.EnsureResult{Created: true, Recreated: true}, sync("python3").EnsureResult)
	res, err := f.sim.Resource(f.vcID, "pyenvres-x")
	require.NoError(t, err)
	assert.Equal(t, "python3", res.PythonVersion)
	_, ok := f.sim.FileBytes(f.vcID, "pyenvres-x", "requirements.txt")
	assert.True(t, ok, "the new environment got its requirements")

	// A resource of another type under the name is never deleted.
	_, err = env.ExecuteActivity(f.acts.SyncFiles, activities.SyncInput{Target: f.target, ManifestResource: "pyenvres-x",
		Resources: []activities.ResourceFiles{{Resource: syncRes, Type: cde.ResourceTypePythonEnv, PythonVersion: "python3"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exists with type files")
}

// The manifest moves out of the job's resource: the first sync in the new layout reads the one
// the first releases left there (nothing re-sent), writes it to its own resource, and PruneFiles
// then removes the old file, so the job's resource holds exactly the user's files.
func TestTheManifestMovesToAResourceOfItsOwn(t *testing.T) {
	f := newSyncFixture(t)
	f.put(t, "v1/app.jar", "application v1")
	f.put(t, "libs/a.jar", "library a")
	objs := f.objects(t, "v1/app.jar", "libs/a.jar")
	f.sync(t, objs) // the first releases' layout: the manifest in the job's resource
	f.stored(t, activities.ManifestPath)

	const manifestRes = "manifestres-sync"
	in := activities.SyncInput{Target: f.target, ManifestResource: manifestRes, LegacyManifestResource: syncRes,
		Resources: []activities.ResourceFiles{{Resource: syncRes, Type: cde.ResourceTypeFiles, Objects: objs}}}
	env := activityEnv(t, f.acts)
	before := f.sim.UploadedBytes(f.vcID, syncRes)
	val, err := env.ExecuteActivity(f.acts.SyncFiles, in)
	require.NoError(t, err)
	var res activities.SyncResult
	require.NoError(t, val.Get(&res))
	assert.Equal(t, map[string]string{"app.jar": "unchanged", "a.jar": "unchanged"}, actions(res), "the old manifest still counts")
	assert.True(t, res.ManifestStale, "it must be written to its own resource")
	_, err = activityEnv(t, f.acts).ExecuteActivity(f.acts.RecordManifest, in)
	require.NoError(t, err)
	_, ok := f.sim.FileBytes(f.vcID, manifestRes, activities.ManifestPath)
	assert.True(t, ok, "written to its own resource")

	in.Resources[0].Prune = true
	val, err = activityEnv(t, f.acts).ExecuteActivity(f.acts.PruneFiles, in)
	require.NoError(t, err)
	var pruned activities.PruneResult
	require.NoError(t, val.Get(&pruned))
	assert.Equal(t, []activities.FileSync{{Resource: syncRes, Path: activities.ManifestPath, Action: activities.ActionRemoved}}, pruned.Files)
	info, err := f.sim.Resource(f.vcID, syncRes)
	require.NoError(t, err)
	var paths []string
	for _, file := range info.Files {
		paths = append(paths, file.Path)
	}
	assert.Equal(t, []string{"a.jar", "app.jar"}, paths, "exactly the user's artifacts")
	assert.Equal(t, before, f.sim.UploadedBytes(f.vcID, syncRes), "nothing was sent to the job's resource")

	// The next provision finds the manifest in its own resource: nothing to send, nothing to write.
	in.Resources[0].Prune = false
	val, err = activityEnv(t, f.acts).ExecuteActivity(f.acts.SyncFiles, in)
	require.NoError(t, err)
	res = activities.SyncResult{}
	require.NoError(t, val.Get(&res))
	assert.Equal(t, map[string]string{"app.jar": "unchanged", "a.jar": "unchanged"}, actions(res))
	assert.False(t, res.ManifestStale)
}

// PlanPythonEnv keeps the environment the job uses only when nothing is to be built: the same
// Python version, built from the same requirements (as the upload manifest records). Any build
// happens in the job's other slot, the one the job leaves becoming stale, so the deployed job
// keeps a ready environment whatever the build's outcome.
func TestPlanPythonEnvBuildsBesideTheEnvironmentInUse(t *testing.T) {
	f := newSyncFixture(t)
	const job = "marketing-py-0-wl-development"
	base, alt := descriptor.PyEnvResourceName(job), descriptor.PyEnvAltResourceName(job)
	manifestRes := descriptor.ManifestResourceName(job)
	plan := func(version string, reqs activities.ArtifactObject) activities.PythonEnvPlan {
		t.Helper()
		val, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.PlanPythonEnv, activities.PythonEnvInput{Target: f.target, JobName: job,
			PythonVersion: version, Requirements: &reqs, Manifest: manifestRes})
		require.NoError(t, err)
		var p activities.PythonEnvPlan
		require.NoError(t, val.Get(&p))
		return p
	}
	build := func(slot, version string, reqs activities.ArtifactObject) {
		t.Helper()
		in := activities.SyncInput{Target: f.target, ManifestResource: manifestRes, Resources: []activities.ResourceFiles{
			{Resource: slot, Type: cde.ResourceTypePythonEnv, PythonVersion: version, Objects: []activities.ArtifactObject{reqs}}}}
		_, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.SyncFiles, in)
		require.NoError(t, err)
		_, err = activityEnv(t, f.acts).ExecuteActivity(f.acts.RecordManifest, in)
		require.NoError(t, err)
		require.NoError(t, f.sim.PutJob(f.vcID, []byte(`{"name":"`+job+`","type":"spark","mounts":[],"spark":{"file":"main.py","pythonEnvResourceName":"`+slot+`"}}`)))
	}
	f.put(t, "py/v1/requirements.txt", "pandas\n")
	v1 := f.objects(t, "py/v1/requirements.txt")[0]
	v1.Artifact.Role = descriptor.RoleRequirements

	assert.Equal(t, activities.PythonEnvPlan{Resource: base}, plan("python3", v1), "a new job takes the first slot")
	build(base, "python3", v1)
	assert.Equal(t, activities.PythonEnvPlan{Resource: base}, plan("python3", v1), "nothing to build: the environment in use is kept")
	assert.Equal(t, activities.PythonEnvPlan{Resource: alt, Stale: []string{base}}, plan("python2", v1), "another version builds beside")

	f.put(t, "py/v1/requirements.txt", "pandas\nnumpy\n")
	v2 := f.objects(t, "py/v1/requirements.txt")[0]
	v2.Artifact.Role = descriptor.RoleRequirements
	assert.Equal(t, activities.PythonEnvPlan{Resource: alt, Stale: []string{base}}, plan("python3", v2), "new requirements build beside too")

	build(alt, "python3", v2)
	assert.Equal(t, activities.PythonEnvPlan{Resource: alt, Stale: []string{base}}, plan("python3", v2), "built: kept, and the slot the job left is stale")
}

// An upload sent again after a transient failure counts its bytes once in the progress it
// reports (the heartbeats' "bytes sent" in the Temporal UI): what the failed attempt had sent is
// taken back when the object is opened again.
func TestARetriedUploadCountsItsBytesOnce(t *testing.T) {
	f := newSyncFixture(t)
	content := strings.Repeat("x", 1<<20)
	f.put(t, "big.jar", content)
	objs := f.objects(t, "big.jar")
	f.sync(t, nil)
	f.sim.FailNext("PUT /dex/api/v1/resources/"+syncRes+"/big.jar", 2, cdesim.Failure{Status: http.StatusServiceUnavailable})

	var sum, reports int64
	n, err := f.acts.UploadOne(context.Background(), activities.UploadInput{Target: f.target, Resource: syncRes, Object: objs[0]},
		func(d int64) { sum += d; reports++ })
	require.NoError(t, err)
	assert.EqualValues(t, len(content), n)
	assert.EqualValues(t, len(content), sum)
	assert.Positive(t, reports)
	assert.Equal(t, []byte(content), f.stored(t, "big.jar"))
}
