package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/app"
)

// pysparkEnv is the PySpark-with-environment example renamed to name, its requirements file at
// a key of its own (so the test may change it).
func pysparkEnv(t *testing.T, name, requirements string) (text, job, reqKey string) {
	t.Helper()
	text = example(t, "pyspark-env.yaml", "weekly-report", name)
	reqKey = "tests/" + name + "/requirements.txt"
	text = strings.Replace(text, "s3://artifacts/healthcare/vaccinations/0.0.0/requirements.txt", "s3://artifacts/"+reqKey, 1)
	putS3(t, reqKey, requirements)
	return text, "healthcare-vaccinations-0-" + name + "-production", reqKey
}

func putS3(t *testing.T, key, content string) {
	t.Helper()
	require.NoError(t, st.s3.Put(context.Background(), "artifacts", key, strings.NewReader(content), int64(len(content))))
}

func provision(t *testing.T, url, text string) api.ProvisioningStatus {
	t.Helper()
	a := call(t, http.MethodPost, url+"/v1/provision", request(text))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	var status api.ProvisioningStatus
	a.decode(t, &status)
	return status
}

func logMessages(status api.ProvisioningStatus) string {
	var b strings.Builder
	for _, l := range status.Logs {
		b.WriteString(l.Message + "\n")
	}
	return b.String()
}

func TestPySparkJob(t *testing.T) {
	srv := newAPI(t, nil)
	name := unique("scoring")
	text := example(t, "pyspark.yaml", "scoring", name)
	status := provision(t, srv.URL, text)
	assert.Equal(t, api.StatusCompleted, status.Status)

	stored, err := st.sim.Job(vcID(t), "marketing-campaigns-1-"+name+"-development")
	require.NoError(t, err)
	var job map[string]any
	require.NoError(t, json.Unmarshal(stored, &job))
	spark := job["spark"].(map[string]any)
	assert.Equal(t, "score.py", spark["file"])
	assert.Equal(t, []any{"features.py", "channels.zip"}, spark["pyFiles"])
	assert.Equal(t, "python3", spark["conf"].(map[string]any)["spark.pyspark.python"])
	assert.Nil(t, spark["className"])
	assert.Nil(t, spark["pythonEnvResourceName"])
}

func TestPySparkJobWithEnvironmentIsReadyWhenProvisionCompletes(t *testing.T) {
	srv := newAPI(t, func(c *app.APIConfig) { c.DedupeWindow = 0 })
	name := unique("report")
	text, job, reqKey := pysparkEnv(t, name, "pandas==2.2.3\n")
	pyEnv := descriptor.PyEnvResourceName(job)

	status := provision(t, srv.URL, text)
	require.Equal(t, api.StatusCompleted, status.Status, "%+v", status)
	res, err := st.sim.Resource(vcID(t), pyEnv)
	require.NoError(t, err)
	assert.Equal(t, "ready", res.Status, "the environment is built before COMPLETED")
	stored, err := st.sim.Job(vcID(t), job)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(stored, &got))
	assert.Equal(t, pyEnv, got["spark"].(map[string]any)["pythonEnvResourceName"])

	// An unchanged redeploy uploads nothing and does not rebuild.
	before := st.sim.UploadedBytes(vcID(t), pyEnv) + st.sim.UploadedBytes(vcID(t), descriptor.MainResourceName(job))
	status = provision(t, srv.URL, text)
	require.Equal(t, api.StatusCompleted, status.Status)
	after := st.sim.UploadedBytes(vcID(t), pyEnv) + st.sim.UploadedBytes(vcID(t), descriptor.MainResourceName(job))
	assert.Equal(t, before, after, "no byte sent")
	assert.Equal(t, "0", status.Info.PrivateInfo["bytesUploaded"])
	assert.Contains(t, logMessages(status), "requirements.txt is unchanged")

	// Changed requirements build a new environment beside the one in use, the job switches to it,
	// and provision waits for it again.
	putS3(t, reqKey, "pandas==2.2.3\npyarrow==18.1.0\n")
	status = provision(t, srv.URL, text)
	require.Equal(t, api.StatusCompleted, status.Status, "%+v", status)
	alt := descriptor.PyEnvAltResourceName(job)
	logs := logMessages(status)
	assert.Contains(t, logs, "Uploaded s3://artifacts/"+reqKey)
	assert.Contains(t, logs, "The Python environment "+alt+" is ready")
	stored, ok := st.sim.FileBytes(vcID(t), alt, "requirements.txt")
	require.True(t, ok)
	assert.Contains(t, string(stored), "pyarrow")
	stored, err = st.sim.Job(vcID(t), job)
	require.NoError(t, err)
	got = nil
	require.NoError(t, json.Unmarshal(stored, &got))
	assert.Equal(t, alt, got["spark"].(map[string]any)["pythonEnvResourceName"])

	// A build that fails fails the provision with CDE's reason, and the deployed job keeps its
	// ready environment. (The next build goes to the first slot again: made here to fail.)
	require.NoError(t, st.sim.AddResource(vcID(t), pyEnv, "python-env", "python3"))
	require.NoError(t, st.sim.FailPythonEnvBuild(vcID(t), pyEnv, "No matching distribution found for pandas==99"))
	putS3(t, reqKey, "pandas==99\n")
	a := call(t, http.MethodPost, srv.URL+"/v1/provision", request(text))
	require.Equal(t, http.StatusInternalServerError, a.status, "%s", a.body)
	var body api.SystemError
	a.decode(t, &body)
	assert.Contains(t, body.Error, "failed to build: No matching distribution found for pandas==99")
	stored, err = st.sim.Job(vcID(t), job)
	require.NoError(t, err)
	got = nil
	require.NoError(t, json.Unmarshal(stored, &got))
	assert.Equal(t, alt, got["spark"].(map[string]any)["pythonEnvResourceName"], "the job still uses the environment that built")
	inUse, err := st.sim.Resource(vcID(t), alt)
	require.NoError(t, err)
	assert.Equal(t, "ready", inUse.Status)
}

func TestRemovedDependencyDisappearsFromTheResource(t *testing.T) {
	srv := newAPI(t, func(c *app.APIConfig) { c.DedupeWindow = 0 })
	name := unique("deps")
	putS3(t, "tests/"+name+"/extra.jar", "extra library")
	text := sparkJar(t, name)
	withExtra := strings.Replace(text, "          dependencies:\n", "          dependencies:\n            - s3://artifacts/tests/"+name+"/extra.jar\n", 1)
	status := provision(t, srv.URL, withExtra)
	require.Equal(t, api.StatusCompleted, status.Status)
	mainRes := descriptor.MainResourceName(jobName(name))
	_, ok := st.sim.FileBytes(vcID(t), mainRes, "extra.jar")
	require.True(t, ok)

	status = provision(t, srv.URL, text)
	require.Equal(t, api.StatusCompleted, status.Status)
	_, ok = st.sim.FileBytes(vcID(t), mainRes, "extra.jar")
	assert.False(t, ok, "the dependency the descriptor dropped is gone")
	assert.Contains(t, logMessages(status), "Removed extra.jar from resource "+mainRes)
	stored, err := st.sim.Job(vcID(t), jobName(name))
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(stored, &got))
	assert.Equal(t, []any{"delta-core_2.12-2.4.0.jar"}, got["spark"].(map[string]any)["jars"])
}

// TestAReadyLeftOverFromThePreviousBuildIsNotTaken: new requirements are built in the job's
// other environment slot. When that slot holds an earlier build (its deletion failed once), a
// CDE whose status lags behind the upload still says ready. The provision waits for the new
// build: it cannot complete before the simulator has shown the lag, the pending build and the
// build itself.
func TestAReadyLeftOverFromThePreviousBuildIsNotTaken(t *testing.T) {
	srv := newAPI(t, func(c *app.APIConfig) { c.DedupeWindow = 0 })
	name := unique("lagging")
	text, job, reqKey := pysparkEnv(t, name, "pandas==2.2.3\n")
	base, alt := descriptor.PyEnvResourceName(job), descriptor.PyEnvAltResourceName(job)
	require.Equal(t, api.StatusCompleted, provision(t, srv.URL, text).Status)

	// New requirements build in the other slot; the first slot's deletion fails, so it stays
	// with its earlier, ready build.
	putS3(t, reqKey, "pandas==2.2.3\nnumpy==2.1.3\n")
	st.sim.FailNext("DELETE /dex/api/v1/resources/"+base, 1, cdesim.Failure{Status: http.StatusBadRequest, Body: `{"message":"in use"}`})
	status := provision(t, srv.URL, text)
	require.Equal(t, api.StatusCompleted, status.Status, "%+v", status)
	assert.Contains(t, logMessages(status), "Deleting the Python environment "+base+" the job no longer uses failed")
	left, err := st.sim.Resource(vcID(t), base)
	require.NoError(t, err)
	require.Equal(t, "ready", left.Status)

	// The build lasts long enough for the provision's polls (1 s, then 2 s, then 4 s apart) to see
	// it; the ready left over in the first slot for its first 2 s would otherwise be taken.
	const lag, pending, build = 2 * time.Second, 500 * time.Millisecond, 3 * time.Second
	st.sim.SetPythonEnvTiming(pending, build, lag)
	t.Cleanup(func() { st.sim.SetPythonEnvTiming(100*time.Millisecond, 200*time.Millisecond, 0) })
	putS3(t, reqKey, "pandas==2.2.3\npolars==1.17.1\n")
	start := time.Now()
	status = provision(t, srv.URL, text)
	took := time.Since(start)
	require.Equal(t, api.StatusCompleted, status.Status, "%+v", status)
	logs := logMessages(status)
	assert.Contains(t, logs, "CDE still reports the previous build of "+base+" (ready)")
	assert.Contains(t, logs, "The Python environment "+base+" is ready")
	assert.Contains(t, logs, "Deleted the Python environment "+alt+": the job now uses "+base)
	assert.GreaterOrEqual(t, took, lag+pending+build, "completed before the new build could have finished")
}

// TestANewPythonVersionBuildsBesideTheEnvironmentInUse: the deployed job keeps its ready
// environment while the environment of the new Python version builds; the job switches at its
// update, and only then is the old environment deleted.
func TestANewPythonVersionBuildsBesideTheEnvironmentInUse(t *testing.T) {
	srv := newAPI(t, func(c *app.APIConfig) { c.DedupeWindow = 0 })
	name := unique("pyswitch")
	text, job, _ := pysparkEnv(t, name, "pandas==2.2.3\n")
	base, alt := descriptor.PyEnvResourceName(job), descriptor.PyEnvAltResourceName(job)
	require.Equal(t, api.StatusCompleted, provision(t, srv.URL, text).Status)
	envOf := func() string {
		t.Helper()
		stored, err := st.sim.Job(vcID(t), job)
		require.NoError(t, err)
		var got map[string]any
		require.NoError(t, json.Unmarshal(stored, &got))
		return got["spark"].(map[string]any)["pythonEnvResourceName"].(string)
	}
	require.Equal(t, base, envOf())

	// The job's update is held: the new environment is built by then, and the job still runs
	// with the old one, which is still there and ready.
	release := st.sim.Block("PATCH /dex/api/v1/jobs/" + job)
	defer release()
	done := make(chan api.ProvisioningStatus, 1)
	go func() {
		a := call(t, http.MethodPost, srv.URL+"/v1/provision", request(strings.Replace(text, "pythonVersion: python3", "pythonVersion: python2", 1)))
		var status api.ProvisioningStatus
		_ = json.Unmarshal(a.body, &status)
		done <- status
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, st.sim.AwaitBlocked(ctx, 1))
	assert.Equal(t, base, envOf(), "the deployed job keeps its environment")
	old, err := st.sim.Resource(vcID(t), base)
	require.NoError(t, err)
	assert.Equal(t, "ready", old.Status)
	assert.Equal(t, "python3", old.PythonVersion)
	built, err := st.sim.Resource(vcID(t), alt)
	require.NoError(t, err)
	assert.Equal(t, "ready", built.Status)
	assert.Equal(t, "python2", built.PythonVersion)

	release()
	status := <-done
	require.Equal(t, api.StatusCompleted, status.Status, "%+v", status)
	assert.Equal(t, alt, envOf(), "the job switched")
	_, err = st.sim.Resource(vcID(t), base)
	assert.Error(t, err, "the environment it left is deleted")
	assert.Contains(t, logMessages(status), "Deleted the Python environment "+base+": the job now uses "+alt)
}
