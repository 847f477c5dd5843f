package e2e_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/app"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// handMadeJob puts a job into the demo virtual cluster as a person would with the cde CLI: its
// files in a resource of their own (not the provisioner's naming), then the job.
func handMadeJob(t *testing.T, job cde.Job, files map[string][]byte) {
	t.Helper()
	vc := vcID(t)
	for _, m := range job.Mounts {
		require.NoError(t, st.sim.AddResource(vc, m.ResourceName, cde.ResourceTypeFiles, ""))
	}
	for path, data := range files {
		require.NoError(t, st.sim.PutFile(vc, job.Mounts[0].ResourceName, path, data))
	}
	raw, err := json.Marshal(job)
	require.NoError(t, err)
	require.NoError(t, st.sim.PutJob(vc, raw))
}

func randomBytes(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return b
}

func reverseRequest(componentID, job, prefix string) api.ReverseProvisioningRequest {
	return api.ReverseProvisioningRequest{
		UseCaseTemplateID: "urn:dmb:utm:spark-workload-template:0.0.0",
		Environment:       "development",
		Params: map[string]any{"cdeService": cdesim.DemoService, "cdeCluster": cdesim.DemoVC,
			"jobName": job, "artifactsPrefix": prefix},
		CatalogInfo: map[string]any{"apiVersion": "backstage.io/v1alpha1", "kind": "Component",
			"spec": map[string]any{"type": "workload", "mesh": map[string]any{"id": componentID, "name": "Imported"}}},
	}
}

func reverse(t *testing.T, url string, req api.ReverseProvisioningRequest) api.ReverseProvisioningStatus {
	t.Helper()
	a := call(t, http.MethodPost, url+"/v1/reverse-provisioning", req)
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	var status api.ReverseProvisioningStatus
	a.decode(t, &status)
	return status
}

func reverseLogs(status api.ReverseProvisioningStatus) string {
	var b strings.Builder
	for _, l := range status.Logs {
		b.WriteString(l.Level + " " + l.Message + "\n")
	}
	return b.String()
}

// s3Bytes reads an object whole, through the worker's own S3 store.
func s3Bytes(t *testing.T, loc string) []byte {
	t.Helper()
	l, err := descriptor.ParseS3Location(loc)
	require.NoError(t, err)
	body, _, err := st.acts.Store.Open(context.Background(), l)
	require.NoError(t, err, loc)
	defer body.Close()
	b, err := io.ReadAll(body)
	require.NoError(t, err)
	return b
}

func s3Absent(t *testing.T, loc string) {
	t.Helper()
	l, err := descriptor.ParseS3Location(loc)
	require.NoError(t, err)
	_, err = st.acts.Store.Stat(context.Background(), l)
	assert.True(t, errors.Is(err, artifacts.ErrNotFound), "%s: %v", loc, err)
}

// withSpecific is the spark-jar example as component name, with its specific replaced.
func withSpecific(t *testing.T, name string, specific any) string {
	t.Helper()
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(sparkJar(t, name)), &doc))
	for _, c := range doc["dataProduct"].(map[string]any)["components"].([]any) {
		if c := c.(map[string]any); c["kind"] == "workload" {
			c["specific"] = specific
		}
	}
	out, err := yaml.Marshal(doc)
	require.NoError(t, err)
	return string(out)
}

// storedJob reads a job as the simulator stores it.
func storedJob(t *testing.T, name string) cde.Job {
	t.Helper()
	raw, err := st.sim.Job(vcID(t), name)
	require.NoError(t, err, name)
	var job cde.Job
	require.NoError(t, json.Unmarshal(raw, &job))
	return job
}

// sameJob asserts that the provisioned job runs what the imported one ran: every field of the
// Spark job and its schedule. Names differ (the convention's), and so do the resources holding
// the files, and the conf keys the provisioner adds (owner, idbroker hosts).
func sameJob(t *testing.T, imported, provisioned cde.Job) {
	t.Helper()
	norm := func(j cde.Job) cde.Job {
		s := *j.Spark
		s.Conf = map[string]string{}
		for k, v := range j.Spark.Conf {
			if k != descriptor.ConfOwnerKey && k != descriptor.ConfIDBrokerHostsKey {
				s.Conf[k] = v
			}
		}
		s.PythonEnvResourceName = ""
		// An empty list and none are the same job.
		for _, l := range []*[]string{&s.Args, &s.Jars, &s.PyFiles, &s.Files} {
			if len(*l) == 0 {
				*l = nil
			}
		}
		out := cde.Job{Type: j.Type, Spark: &s, RetentionPolicy: j.RetentionPolicy}
		if j.Schedule != nil && j.Schedule.Enabled {
			out.Schedule = &cde.Schedule{Enabled: true, CronExpression: j.Schedule.CronExpression, Start: j.Schedule.Start, End: j.Schedule.End}
		}
		return out
	}
	assert.Equal(t, norm(imported), norm(provisioned))
	assert.Len(t, provisioned.Mounts, len(imported.Mounts))
	assert.Equal(t, imported.Spark.PythonEnvResourceName != "", provisioned.Spark.PythonEnvResourceName != "")
}

func TestReverseProvisioningOfAJarJobRoundTrips(t *testing.T) {
	srv := newAPI(t, nil)
	name := unique("imported")
	jobNameHandMade := "legacy-etl-" + name
	res := "legacy-files-" + name
	app, dep := randomBytes(t, 300<<10), randomBytes(t, 40<<10)
	imported := cde.Job{
		Name: jobNameHandMade, Type: cde.JobTypeSpark, RetentionPolicy: cde.RetentionKeepIndefinitely,
		Mounts: []cde.Mount{{ResourceName: res}},
		Spark: &cde.SparkJob{
			File: "legacy.jar", ClassName: "com.example.Legacy", Args: []string{"--day", "{{ dag_run.ds }}"},
			Conf:        map[string]string{"dex.safariEnabled": "true", "spark.sql.shuffle.partitions": "48"},
			DriverCores: 2, DriverMemory: "2g", ExecutorCores: 3, ExecutorMemory: "6g", NumExecutors: 4, LogLevel: "WARN",
			Jars: []string{"legacy-dep.jar"},
		},
		Schedule: &cde.Schedule{Enabled: true, CronExpression: "30 2 * * *", Start: "2026-01-01T00:00:00Z", End: "2027-06-30T00:00:00Z"},
	}
	handMadeJob(t, imported, map[string][]byte{"legacy.jar": app, "legacy-dep.jar": dep})

	componentID := "urn:dmb:cmp:finance:cashflow:0:" + name
	prefix := "s3://artifacts/imports/" + name + "/"
	status := reverse(t, srv.URL, reverseRequest(componentID, jobNameHandMade, prefix))
	require.Equal(t, api.StatusCompleted, status.Status, "%+v", status)
	logs := reverseLogs(status)
	specific, ok := status.Updates[workflows.UpdatesSpecific].(map[string]any)
	require.True(t, ok, "%+v", status.Updates)
	assert.Len(t, status.Updates, 1, "the whole specific, at one path")

	// The specific, in the descriptor's own fields.
	assert.Equal(t, cdesim.DemoService, specific["cdeService"])
	assert.Equal(t, cdesim.DemoVC, specific["cdeCluster"])
	assert.Equal(t, jobName(name), specific["jobName"], "the convention's name")
	assert.Equal(t, prefix+"legacy.jar", specific["jar"])
	assert.Equal(t, "com.example.Legacy", specific["className"])
	jc := specific["jobConfig"].(map[string]any)
	assert.Equal(t, []any{prefix + "legacy-dep.jar"}, jc["dependencies"])
	assert.Equal(t, map[string]any{"spark.sql.shuffle.partitions": "48"}, jc["conf"], "without what the provisioner sets itself")
	assert.Equal(t, map[string]any{"cronExpression": "30 2 * * *", "startDate": "2026-01-01T00:00:00Z", "endDate": "2027-06-30T00:00:00Z"}, jc["schedule"])
	assert.NotContains(t, specific, "kind")

	// The files, copied byte for byte.
	assert.True(t, bytes.Equal(app, s3Bytes(t, prefix+"legacy.jar")))
	assert.True(t, bytes.Equal(dep, s3Bytes(t, prefix+"legacy-dep.jar")))
	assert.Contains(t, logs, "Copied "+res+"/legacy.jar to "+prefix+"legacy.jar")
	// The name: the next provision makes a job under the convention's name.
	assert.Contains(t, logs, "WARNING Job "+jobNameHandMade+" does not follow the naming convention")

	// Round trip: provisioning a descriptor with that specific gives the same job.
	prov := provision(t, srv.URL, withSpecific(t, name, specific))
	require.Equal(t, api.StatusCompleted, prov.Status, "%+v", prov)
	sameJob(t, imported, storedJob(t, jobName(name)))
	_, err := st.sim.Job(vcID(t), jobNameHandMade)
	assert.NoError(t, err, "the imported job is left untouched")

	// The same request again attaches to (or repeats) the import: the copies are recognised.
	again := reverse(t, srv.URL, reverseRequest(componentID, jobNameHandMade, prefix))
	require.Equal(t, api.StatusCompleted, again.Status, "%+v", again)
	assert.Equal(t, status.Updates, again.Updates)
}

func TestReverseProvisioningOfAPySparkJobWithAnEnvironmentRoundTrips(t *testing.T) {
	srv := newAPI(t, nil)
	name := unique("imported-py")
	handMade := "py-report-" + name
	res, env := "py-files-"+name, "py-env-"+name
	main, helpers, reqs := []byte("print('report')\n"), []byte("def helper(): pass\n"), []byte("pandas==2.2.3\nnumpy==2.1.0\n")
	vc := vcID(t)
	require.NoError(t, st.sim.AddResource(vc, env, cde.ResourceTypePythonEnv, "python3"))
	require.NoError(t, st.sim.PutFile(vc, env, "requirements.txt", reqs))
	imported := cde.Job{
		Name: handMade, Type: cde.JobTypeSpark, RetentionPolicy: cde.RetentionKeepIndefinitely,
		Mounts: []cde.Mount{{ResourceName: res}},
		Spark: &cde.SparkJob{
			File: "report.py", Conf: map[string]string{"dex.safariEnabled": "true", "spark.pyspark.python": "python3", "spark.executor.memoryOverhead": "512m"},
			DriverCores: 1, DriverMemory: "1g", ExecutorCores: 1, ExecutorMemory: "2g", NumExecutors: 2, LogLevel: "INFO",
			PyFiles: []string{"helpers.py"}, PythonEnvResourceName: env,
		},
		Schedule: &cde.Schedule{Enabled: false},
	}
	handMadeJob(t, imported, map[string][]byte{"report.py": main, "helpers.py": helpers})

	componentID := "urn:dmb:cmp:finance:cashflow:0:" + name
	prefix := "s3://artifacts/imports/" + name + "/"
	status := reverse(t, srv.URL, reverseRequest(componentID, handMade, prefix))
	require.Equal(t, api.StatusCompleted, status.Status, "%+v", status)
	specific := status.Updates[workflows.UpdatesSpecific].(map[string]any)
	assert.Equal(t, prefix+"report.py", specific["pythonFile"])
	assert.Equal(t, "python3", specific["pythonVersion"])
	assert.Equal(t, prefix+"requirements.txt", specific["requirementsFile"])
	assert.NotContains(t, specific, "jar")
	jc := specific["jobConfig"].(map[string]any)
	assert.Equal(t, []any{prefix + "helpers.py"}, jc["dependencies"])
	assert.NotContains(t, jc, "schedule", "not scheduled")
	for file, want := range map[string][]byte{"report.py": main, "helpers.py": helpers, "requirements.txt": reqs} {
		assert.True(t, bytes.Equal(want, s3Bytes(t, prefix+file)), file)
	}

	prov := provision(t, srv.URL, withSpecific(t, name, specific))
	require.Equal(t, api.StatusCompleted, prov.Status, "%+v", prov)
	sameJob(t, imported, storedJob(t, jobName(name)))
	got, ok := st.sim.FileBytes(vc, storedJob(t, jobName(name)).Spark.PythonEnvResourceName, "requirements.txt")
	require.True(t, ok)
	assert.Equal(t, reqs, got, "the same requirements build the new environment")
}

// A job this provisioner deployed is imported by naming the S3 objects it was uploaded from,
// unchanged since: nothing is copied.
func TestReverseProvisioningReusesTheS3OriginsAProvisionRecorded(t *testing.T) {
	srv := newAPI(t, nil)
	name := unique("reimported")
	require.Equal(t, api.StatusCompleted, provision(t, srv.URL, sparkJar(t, name)).Status)

	prefix := "s3://artifacts/imports/" + name + "/"
	status := reverse(t, srv.URL, reverseRequest("urn:dmb:cmp:finance:cashflow:0:"+name, jobName(name), prefix))
	require.Equal(t, api.StatusCompleted, status.Status, "%+v", status)
	specific := status.Updates[workflows.UpdatesSpecific].(map[string]any)
	assert.Equal(t, "s3://artifacts/finance/cashflow/0.0.0/spark-app-0.0.0.jar", specific["jar"], "the origin, not a copy")
	assert.NotContains(t, reverseLogs(status), "does not follow the naming convention")
	assert.Contains(t, reverseLogs(status), "nothing copied")
	s3Absent(t, prefix+"spark-app-0.0.0.jar")
}

func TestReverseProvisioningRefusals(t *testing.T) {
	srv := newAPI(t, nil)
	name := unique("refused")
	componentID := "urn:dmb:cmp:finance:cashflow:0:" + name
	prefix := "s3://artifacts/imports/" + name + "/"
	vc := vcID(t)

	// An Airflow job, and a Spark job whose file is in none of its resources.
	airflow, _ := json.Marshal(map[string]any{"name": "dag-" + name, "type": "airflow", "mounts": []any{},
		"airflow": map[string]any{"dagID": "d", "dagFile": "dag.py"}})
	require.NoError(t, st.sim.PutJob(vc, airflow))
	handMadeJob(t, cde.Job{Name: "lost-" + name, Type: cde.JobTypeSpark, Mounts: []cde.Mount{{ResourceName: "lost-res-" + name}},
		Spark: &cde.SparkJob{File: "gone.jar", ClassName: "a.B"}}, map[string][]byte{"other.jar": []byte("x")})
	// A job whose copy would overwrite someone else's object.
	handMadeJob(t, cde.Job{Name: "clash-" + name, Type: cde.JobTypeSpark, Mounts: []cde.Mount{{ResourceName: "clash-res-" + name}},
		Spark: &cde.SparkJob{File: "app.jar", ClassName: "a.B", Jars: []string{"dep.jar"}}},
		map[string][]byte{"app.jar": []byte("app"), "dep.jar": []byte("dep")})
	putS3(t, "imports/"+name+"/dep.jar", "someone else's")

	for _, tt := range []struct{ job, cause string }{
		{"absent-" + name, "there is no job absent-" + name},
		{"dag-" + name, "is an airflow job: only Spark jobs can be imported"},
		{"lost-" + name, "file gone.jar of job lost-" + name + " is in none of its resources"},
		{"clash-" + name, prefix + "dep.jar already exists and is not a copy"},
	} {
		t.Run(tt.job, func(t *testing.T) {
			status := reverse(t, srv.URL, reverseRequest(componentID, tt.job, prefix))
			assert.Equal(t, api.StatusFailed, status.Status)
			assert.Contains(t, status.UserMessage, tt.cause)
			assert.Empty(t, status.Updates)
			assert.Contains(t, reverseLogs(status), tt.cause)
		})
	}
	// No refusal wrote anything: not even the clashing job's application file.
	s3Absent(t, prefix+"app.jar")
	s3Absent(t, prefix+"gone.jar")
	assert.Equal(t, "someone else's", string(s3Bytes(t, prefix+"dep.jar")))

	// Bad params are a 400 naming the field.
	for field, change := range map[string]func(*api.ReverseProvisioningRequest){
		"params.cdeCluster":      func(r *api.ReverseProvisioningRequest) { delete(r.Params, "cdeCluster") },
		"params.artifactsPrefix": func(r *api.ReverseProvisioningRequest) { r.Params["artifactsPrefix"] = "artifacts/no-scheme/" },
		"catalogInfo":            func(r *api.ReverseProvisioningRequest) { r.CatalogInfo = map[string]any{"spec": map[string]any{}} },
	} {
		req := reverseRequest(componentID, "x", prefix)
		change(&req)
		a := call(t, http.MethodPost, srv.URL+"/v1/reverse-provisioning", req)
		require.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
		var body api.RequestValidationError
		a.decode(t, &body)
		assert.Equal(t, field, body.InputErrorField, "%s", a.body)
	}
}

// An import that outlasts SYNC_TIMEOUT answers 202 and a token; its status endpoint follows it
// to COMPLETED with the updates, and refuses the token of another kind of run.
func TestSlowReverseProvisioningAnswers202ThenItsStatus(t *testing.T) {
	srv := newAPI(t, func(c *app.APIConfig) { c.SyncTimeout = 500 * time.Millisecond })
	name := unique("imported-slow")
	handMade := "slow-" + name
	handMadeJob(t, cde.Job{Name: handMade, Type: cde.JobTypeSpark, Mounts: []cde.Mount{{ResourceName: "slow-res-" + name}},
		Spark: &cde.SparkJob{File: "app.jar", ClassName: "a.B"}}, map[string][]byte{"app.jar": []byte("app")})
	release := st.sim.Block("GET /dex/api/v1/jobs/" + handMade)
	released := false
	defer func() {
		if !released {
			release()
		}
	}()

	a := call(t, http.MethodPost, srv.URL+"/v1/reverse-provisioning", reverseRequest("urn:dmb:cmp:finance:cashflow:0:"+name, handMade, "s3://artifacts/imports/"+name+"/"))
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	assert.True(t, strings.HasPrefix(a.contentType, "text/plain"))
	token := string(a.body)

	var status api.ReverseProvisioningStatus
	a = call(t, http.MethodGet, srv.URL+"/v1/reverse-provisioning/"+token+"/status", nil)
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	a.decode(t, &status)
	assert.Equal(t, api.StatusRunning, status.Status)
	// A provision's status endpoint does not answer for an import's token.
	assert.Equal(t, http.StatusBadRequest, call(t, http.MethodGet, srv.URL+"/v1/provision/"+token+"/status", nil).status)

	release()
	released = true
	require.Eventually(t, func() bool {
		a = call(t, http.MethodGet, srv.URL+"/v1/reverse-provisioning/"+token+"/status", nil)
		status = api.ReverseProvisioningStatus{}
		a.decode(t, &status)
		return status.Status != api.StatusRunning
	}, 30*time.Second, 100*time.Millisecond)
	require.Equal(t, api.StatusCompleted, status.Status, "%s", a.body)
	assert.Equal(t, "s3://artifacts/imports/"+name+"/app.jar", status.Updates[workflows.UpdatesSpecific].(map[string]any)["jar"])
}
