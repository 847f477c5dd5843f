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

const (
	driftOwner   = "urn:dmb:cmp:fin:drift:0:wl"
	driftJob     = "fin-drift-0-wl-development"
	driftSecret  = "spark.hadoop.fs.s3a.secret.key"
	secretValue  = "s3cr3t-as-provisioned"
	appContent   = "application v1"
	depContent   = "library v1"
	extraContent = "print('added by hand')"
)

// driftFixture is a component provisioned as a provision does it (SyncFiles, then UpsertJob
// recording the manifest and the desired state), on the simulator and a local S3.
type driftFixture struct {
	*syncFixture
	jobs    *cde.JobsClient
	mainRes string
	in      activities.CheckDriftInput
}

func newDriftFixture(t *testing.T) *driftFixture {
	t.Helper()
	f := newSyncFixture(t)
	f.put(t, "v1/app.jar", appContent)
	f.put(t, "libs/dep.jar", depContent)
	objs := f.objects(t, "v1/app.jar", "libs/dep.jar")
	spec := descriptor.Specific{Kind: descriptor.SparkJar, CDEService: cdesim.DemoService, CDECluster: cdesim.DemoVC,
		JobName: driftJob, Jar: "s3://artifacts/v1/app.jar", ClassName: "com.example.App",
		JobConfig: &descriptor.JobConfig{Dependencies: []string{"s3://artifacts/libs/dep.jar"},
			Conf: map[string]string{driftSecret: secretValue, "spark.sql.shuffle.partitions": "8"}}}
	mainRes := descriptor.MainResourceName(driftJob)
	sync := activities.SyncInput{Target: f.target, ManifestResource: descriptor.ManifestResourceName(driftJob), ComponentID: driftOwner,
		Resources: []activities.ResourceFiles{{Resource: mainRes, Type: cde.ResourceTypeFiles, Objects: objs}}}
	_, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.SyncFiles, sync)
	require.NoError(t, err)
	val, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.UpsertJob, activities.JobInput{Target: f.target, Specific: spec,
		ComponentID: driftOwner, JobField: "jobName", Manifest: &sync})
	require.NoError(t, err)
	var info activities.JobInfo
	require.NoError(t, val.Get(&info))
	require.Empty(t, info.ManifestWarning)
	require.Empty(t, info.DesiredStateWarning)
	jobs, err := cde.NewJobsClient(f.target.VcAPIURL, f.acts.Tokens.ForHost(f.target.ClusterFqdn), f.acts.HTTP)
	require.NoError(t, err)
	return &driftFixture{syncFixture: f, jobs: jobs, mainRes: mainRes, in: activities.CheckDriftInput{Component: activities.DriftComponent{
		ComponentID: driftOwner, Environment: "development", Service: cdesim.DemoService, Cluster: cdesim.DemoVC, JobName: driftJob}}}
}

func (f *driftFixture) check(t *testing.T, repair bool) activities.DriftReport {
	t.Helper()
	in := f.in
	in.Repair = repair
	val, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.CheckDrift, in)
	require.NoError(t, err)
	var report activities.DriftReport
	require.NoError(t, val.Get(&report))
	assert.Equal(t, driftOwner, report.ComponentID)
	assert.Equal(t, "development", report.Environment)
	assert.Equal(t, driftJob, report.JobName)
	assert.False(t, report.CheckedAt.IsZero())
	raw, err := json.Marshal(report)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), secretValue, "no secret in the report")
	return report
}

// repairAndConverge repairs, then checks that a second check finds nothing and that a second
// repair (an activity run twice) does nothing.
func (f *driftFixture) repairAndConverge(t *testing.T) activities.DriftReport {
	t.Helper()
	repaired := f.check(t, true)
	require.NotEmpty(t, repaired.Differences, "the differences found are still listed")
	require.NotEmpty(t, repaired.Repaired)
	after := f.check(t, false)
	assert.Empty(t, after.Differences, "converged: %+v", after.Differences)
	again := f.check(t, true)
	assert.Empty(t, again.Differences)
	assert.Empty(t, again.Repaired)
	return repaired
}

func (f *driftFixture) storedJob(t *testing.T) cde.Job {
	t.Helper()
	job, err := f.jobs.GetJob(context.Background(), driftJob)
	require.NoError(t, err)
	return *job
}

func (f *driftFixture) fileInCDE(t *testing.T, path string) ([]byte, bool) {
	t.Helper()
	return f.sim.FileBytes(f.vcID, f.mainRes, path)
}

func TestCheckDriftFindsNothingRightAfterAProvision(t *testing.T) {
	f := newDriftFixture(t)
	report := f.check(t, false)
	assert.Empty(t, report.Differences)
	assert.NotNil(t, report.Differences, "an empty list, not null")
	assert.Empty(t, report.Note)
	assert.Empty(t, report.Repaired)
	assert.False(t, report.Drifted())

	// A repair of nothing does nothing.
	f.sim.ResetRequests()
	report = f.check(t, true)
	assert.Empty(t, report.Repaired)
	for _, r := range f.sim.Requests() {
		assert.Contains(t, []string{http.MethodGet, http.MethodPost}, r.Method, "only reads (CDP's are POSTs): %s %s", r.Method, r.Path)
		if r.Method == http.MethodPost {
			assert.NotContains(t, r.Path, "/dex/api/", "no write to the jobs API")
		}
	}
}

func TestCheckDriftReportsJobFieldsChangedInCDEAndRepairsThem(t *testing.T) {
	f := newDriftFixture(t)
	ctx := context.Background()
	job := f.storedJob(t)
	job.Spark.DriverMemory = "4g"
	job.Spark.Conf["spark.added.by.hand"] = "yes"
	job.Spark.Conf[driftSecret] = "another-s3cr3t"
	require.NoError(t, f.jobs.UpdateJob(ctx, job))

	report := f.check(t, false)
	assert.Equal(t, []activities.DriftDifference{
		{Field: "spark.driverMemory", Expected: "1g", Actual: "4g"},
		{Field: "spark.conf.spark.added.by.hand", Expected: activities.Unset, Actual: `"yes"`},
		{Field: "spark.conf." + driftSecret, Expected: activities.MaskedValue, Actual: activities.MaskedValue},
	}, report.Differences)
	raw, err := json.Marshal(report)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "another-s3cr3t", "neither secret value is in the report")

	repaired := f.repairAndConverge(t)
	assert.Equal(t, report.Differences, repaired.Differences)
	require.Len(t, repaired.Repaired, 1)
	assert.Contains(t, repaired.Repaired[0], "updated job "+driftJob)
	assert.NotContains(t, strings.Join(repaired.Repaired, " "), "another-s3cr3t")
	job = f.storedJob(t)
	assert.Equal(t, "1g", job.Spark.DriverMemory)
	assert.NotContains(t, job.Spark.Conf, "spark.added.by.hand")
	assert.Equal(t, secretValue, job.Spark.Conf[driftSecret])
	assert.Equal(t, driftOwner, job.Spark.Conf[descriptor.ConfOwnerKey], "the owner conf is kept")
}

func TestCheckDriftReportsFilesChangedMissingOrAddedAndRepairsThem(t *testing.T) {
	f := newDriftFixture(t)
	ctx := context.Background()
	require.NoError(t, f.jobs.DeleteResourceFile(ctx, f.mainRes, "dep.jar"))
	require.NoError(t, f.sim.PutFile(f.vcID, f.mainRes, "app.jar", []byte("application patched by hand")))
	require.NoError(t, f.sim.PutFile(f.vcID, f.mainRes, "extra.py", []byte(extraContent)))

	report := f.check(t, false)
	require.Len(t, report.Differences, 3, "%+v", report.Differences)
	app := report.Differences[0]
	assert.Equal(t, "file "+f.mainRes+"/app.jar", app.Field)
	assert.Regexp(t, `^14 bytes, signature \w+$`, app.Expected)
	assert.Regexp(t, `^27 bytes, signature \w+$`, app.Actual)
	assert.Equal(t, activities.DriftDifference{Field: "file " + f.mainRes + "/dep.jar", Expected: "10 bytes", Actual: "absent"}, report.Differences[1])
	assert.Equal(t, activities.DriftDifference{Field: "file " + f.mainRes + "/extra.py", Expected: "absent", Actual: "22 bytes"}, report.Differences[2])

	repaired := f.repairAndConverge(t)
	assert.Equal(t, report.Differences, repaired.Differences)
	assert.Len(t, repaired.Repaired, 3, "%v", repaired.Repaired)
	for path, want := range map[string]string{"app.jar": appContent, "dep.jar": depContent} {
		got, ok := f.fileInCDE(t, path)
		require.True(t, ok, path)
		assert.Equal(t, want, string(got), "%s holds the bytes of its S3 object", path)
	}
	_, ok := f.fileInCDE(t, "extra.py")
	assert.False(t, ok, "the file added by hand is removed")
	_, ok = f.sim.FileBytes(f.vcID, descriptor.ManifestResourceName(driftJob), activities.DesiredStatePath)
	assert.True(t, ok, "the bookkeeping is left alone")
}

func TestCheckDriftReportsADeletedResourceAndRecreatesIt(t *testing.T) {
	f := newDriftFixture(t)
	require.NoError(t, f.jobs.DeleteResource(context.Background(), f.mainRes))

	report := f.check(t, false)
	assert.Equal(t, []activities.DriftDifference{{Field: "resource " + f.mainRes, Expected: "present", Actual: "absent"}}, report.Differences)

	repaired := f.repairAndConverge(t)
	assert.Equal(t, report.Differences, repaired.Differences)
	assert.Equal(t, "created resource "+f.mainRes, repaired.Repaired[0])
	info, err := f.sim.Resource(f.vcID, f.mainRes)
	require.NoError(t, err)
	assert.Equal(t, cde.ResourceTypeFiles, info.Type)
	for path, want := range map[string]string{"app.jar": appContent, "dep.jar": depContent} {
		got, ok := f.fileInCDE(t, path)
		require.True(t, ok, path)
		assert.Equal(t, want, string(got))
	}
}

func TestCheckDriftReportsADeletedJobAndCreatesItAgain(t *testing.T) {
	f := newDriftFixture(t)
	want := f.storedJob(t)
	require.NoError(t, f.sim.DeleteJob(f.vcID, driftJob))

	report := f.check(t, false)
	assert.Equal(t, []activities.DriftDifference{{Field: "job", Expected: "present", Actual: "absent"}}, report.Differences)

	repaired := f.repairAndConverge(t)
	assert.Equal(t, []string{"created job " + driftJob}, repaired.Repaired)
	got := f.storedJob(t)
	assert.Empty(t, activities.JobChanges(&want, &got))
	assert.Equal(t, driftOwner, got.Spark.Conf[descriptor.ConfOwnerKey])
}

// The repair re-uploads the version the last provision deployed, never a newer one: a new
// version is a provision's to deploy.
func TestCheckDriftRepairDoesNotUploadAnArtifactChangedOnS3Since(t *testing.T) {
	f := newDriftFixture(t)
	require.NoError(t, f.jobs.DeleteResourceFile(context.Background(), f.mainRes, "app.jar"))
	f.put(t, "v1/app.jar", "application v2, never provisioned")

	repaired := f.check(t, true)
	assert.Equal(t, []activities.DriftDifference{{Field: "file " + f.mainRes + "/app.jar", Expected: "14 bytes", Actual: "absent"}}, repaired.Differences)
	assert.Empty(t, repaired.Repaired)
	assert.Contains(t, repaired.Note, "app.jar not restored")
	assert.Contains(t, repaired.Note, "changed on S3")
	_, ok := f.fileInCDE(t, "app.jar")
	assert.False(t, ok, "nothing uploaded in its place")
	assert.Equal(t, repaired.Differences, f.check(t, false).Differences, "still drifted")
}

func TestCheckDriftReportsAServiceOrClusterThatIsNotRunning(t *testing.T) {
	f := newDriftFixture(t)
	for _, tt := range []struct {
		name, service, cluster, field string
		actual                        string // "" for any status but running
	}{
		{"absent service", "nope", cdesim.DemoVC, "cdeService", "absent"},
		{"absent virtual cluster", cdesim.DemoService, "vc-nope", "cdeCluster", "absent"},
		{"virtual cluster not active", "cde-stage", "vc-stage", "cdeCluster", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.in.Component.Service, f.in.Component.Cluster = tt.service, tt.cluster
			report := f.check(t, true)
			require.Len(t, report.Differences, 1)
			d := report.Differences[0]
			assert.Equal(t, tt.field, d.Field)
			assert.Equal(t, "running", d.Expected)
			if tt.actual != "" {
				assert.Equal(t, tt.actual, d.Actual)
			} else {
				assert.NotEmpty(t, d.Actual)
				assert.NotEqual(t, "running", d.Actual)
			}
			assert.Empty(t, report.Repaired)
		})
	}
}

func TestCheckDriftRetriesACDPOutageAndNeverCallsItADrift(t *testing.T) {
	f := newDriftFixture(t)
	f.sim.FailNext("POST /api/v1/de/listServices", -1, cdesim.Failure{Status: http.StatusServiceUnavailable})
	_, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.CheckDrift, f.in)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, activities.ErrTypeTransient, appErr.Type())
	assert.False(t, appErr.NonRetryable())
}

func TestCheckDriftWithoutADesiredStateComparesNothing(t *testing.T) {
	t.Run("none recorded (an older provisioner)", func(t *testing.T) {
		f := newDriftFixture(t)
		require.NoError(t, f.jobs.DeleteResourceFile(context.Background(), descriptor.ManifestResourceName(driftJob), activities.DesiredStatePath))
		require.NoError(t, f.sim.DeleteJob(f.vcID, driftJob))
		report := f.check(t, true)
		assert.Empty(t, report.Differences)
		assert.Contains(t, report.Note, "no desired state recorded")
		assert.Empty(t, report.Repaired)
		_, err := f.sim.Job(f.vcID, driftJob)
		assert.Error(t, err, "nothing repaired")
	})
	t.Run("recorded by another component", func(t *testing.T) {
		f := newDriftFixture(t)
		f.in.Component.ComponentID = "urn:dmb:cmp:fin:other:0:wl"
		val, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.CheckDrift, f.in)
		require.NoError(t, err)
		var report activities.DriftReport
		require.NoError(t, val.Get(&report))
		assert.Empty(t, report.Differences)
		assert.Contains(t, report.Note, driftOwner)
	})
}

// pyEnvDrift provisions a PySpark job with an environment (built from a PyPI mirror) through
// SyncFiles and UpsertJob, as a provision does, and returns the fixture, the python-env's name,
// the requirements, the mirror and a check of the component (repairing or not).
func pyEnvDrift(t *testing.T) (f *syncFixture, pyEnv, requirements, mirror string, check func(repair bool) activities.DriftReport) {
	t.Helper()
	f = newSyncFixture(t)
	const job = "fin-drift-0-py-development"
	requirements, mirror = "requests==2.32.3\n", "https://pypi.example.com/simple"
	f.put(t, "py/main.py", "print('main')")
	f.put(t, "py/requirements.txt", requirements)
	objs := f.objects(t, "py/main.py", "py/requirements.txt")
	spec := descriptor.Specific{Kind: descriptor.PySparkWithEnv, CDEService: cdesim.DemoService, CDECluster: cdesim.DemoVC,
		JobName: job, PythonFile: "s3://artifacts/py/main.py", PythonVersion: "python3", RequirementsFile: "s3://artifacts/py/requirements.txt",
		PyMirror: &mirror}
	pyEnv = descriptor.PyEnvResourceName(job)
	sync := activities.SyncInput{Target: f.target, ManifestResource: descriptor.ManifestResourceName(job), ComponentID: driftOwner,
		Resources: []activities.ResourceFiles{
			{Resource: descriptor.MainResourceName(job), Type: cde.ResourceTypeFiles, Objects: objs[:1]},
			{Resource: pyEnv, Type: cde.ResourceTypePythonEnv, PythonVersion: "python3", PyMirror: mirror, Objects: objs[1:]},
		}}
	_, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.SyncFiles, sync)
	require.NoError(t, err)
	_, err = activityEnv(t, f.acts).ExecuteActivity(f.acts.UpsertJob, activities.JobInput{Target: f.target, Specific: spec,
		ComponentID: driftOwner, JobField: "jobName", Manifest: &sync, PythonEnvResource: pyEnv})
	require.NoError(t, err)
	check = func(repair bool) activities.DriftReport {
		in := activities.CheckDriftInput{Repair: repair, Component: activities.DriftComponent{
			ComponentID: driftOwner, Environment: "development", Service: cdesim.DemoService, Cluster: cdesim.DemoVC, JobName: job}}
		val, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.CheckDrift, in)
		require.NoError(t, err)
		var report activities.DriftReport
		require.NoError(t, val.Get(&report))
		return report
	}
	require.Empty(t, check(false).Differences)
	return f, pyEnv, requirements, mirror, check
}

// assertPyEnvRebuilt checks the python-env is what the job needs again: type, version, mirror,
// requirements; and that a check finds nothing more.
func assertPyEnvRebuilt(t *testing.T, f *syncFixture, pyEnv, requirements, mirror string, check func(bool) activities.DriftReport) {
	t.Helper()
	info, err := f.sim.Resource(f.vcID, pyEnv)
	require.NoError(t, err)
	assert.Equal(t, cde.ResourceTypePythonEnv, info.Type)
	assert.Equal(t, "python3", info.PythonVersion)
	assert.Equal(t, mirror, info.PyPiMirror, "rebuilt from the mirror the descriptor named")
	got, ok := f.sim.FileBytes(f.vcID, pyEnv, "requirements.txt")
	require.True(t, ok)
	assert.Equal(t, requirements, string(got))
	assert.Empty(t, check(false).Differences)
}

func TestCheckDriftRecreatesADeletedPythonEnvironment(t *testing.T) {
	f, pyEnv, requirements, mirror, check := pyEnvDrift(t)

	_, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.DeleteResource, activities.DeleteInput{Target: f.target, Name: pyEnv})
	require.NoError(t, err)
	report := check(true)
	assert.Equal(t, []activities.DriftDifference{{Field: "resource " + pyEnv, Expected: "present", Actual: "absent"}}, report.Differences)
	require.Len(t, report.Repaired, 2, "%v", report.Repaired)
	assert.Equal(t, "created resource "+pyEnv+" (python-env, python3, PyPI mirror "+mirror+")", report.Repaired[0])
	assert.Contains(t, report.Repaired[1], "uploaded file "+pyEnv+"/requirements.txt")
	assertPyEnvRebuilt(t, f, pyEnv, requirements, mirror, check)
}

// A resource of the job replaced by hand with one of another type, or a python-env of another
// Python version, is drift; a repair replaces it with what the job needs.
func TestCheckDriftReplacesAResourceThatIsNotWhatTheJobNeeds(t *testing.T) {
	for _, tt := range []struct {
		name, typ, version string
		actual             string
	}{
		{"another type", cde.ResourceTypeFiles, "", "type files"},
		{"another Python version", cde.ResourceTypePythonEnv, "python2", "python-env python2"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, pyEnv, requirements, mirror, check := pyEnvDrift(t)
			_, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.DeleteResource, activities.DeleteInput{Target: f.target, Name: pyEnv})
			require.NoError(t, err)
			require.NoError(t, f.sim.AddResource(f.vcID, pyEnv, tt.typ, tt.version))

			want := "python-env python3"
			if tt.typ != cde.ResourceTypePythonEnv {
				want = "type python-env"
			}
			report := check(true)
			assert.Contains(t, report.Differences, activities.DriftDifference{Field: "resource " + pyEnv, Expected: want, Actual: tt.actual})
			require.NotEmpty(t, report.Repaired)
			assert.Equal(t, "replaced resource "+pyEnv+" (it was "+tt.actual+") (python-env, python3, PyPI mirror "+mirror+")", report.Repaired[0])
			assertPyEnvRebuilt(t, f, pyEnv, requirements, mirror, check)
		})
	}
}
