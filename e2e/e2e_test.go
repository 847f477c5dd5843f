package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/app"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// newAPI serves the real API router on 127.0.0.1 against the shared Temporal.
func newAPI(t *testing.T, change func(*app.APIConfig)) *httptest.Server {
	t.Helper()
	cfg := app.APIConfig{
		Temporal:        app.TemporalConfig{Namespace: "default", TaskQueue: st.workerCf.Temporal.TaskQueue, SearchAttributes: true},
		SyncTimeout:     45 * time.Second,
		DedupeWindow:    time.Minute,
		MaxRequestBytes: api.DefaultMaxBodyBytes,
	}
	if change != nil {
		change(&cfg)
	}
	// The API logs into the same buffer as the worker, for the test that no secret is logged.
	httpSrv, _, err := app.NewAPIServerWith(cfg, st.tc, app.NewLogger(app.LogConfig{Level: "debug"}, st.logs), st.tel)
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(httpSrv.Handler)
	srv.Listener.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv.Listener = ln
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

// example returns an example descriptor with its workload renamed to name, so that every test
// has a component (and a job, and a workflow id) of its own.
func example(t *testing.T, file, from, name string) string {
	t.Helper()
	text, err := os.ReadFile(filepath.Join("..", "examples", file))
	require.NoError(t, err)
	return strings.ReplaceAll(string(text), from, name)
}

func sparkJar(t *testing.T, name string) string {
	return example(t, "spark-jar.yaml", "spark-wl", name)
}

func jobName(name string) string { return "finance-cashflow-0-" + name + "-development" }

var runCounter atomic.Int64

// unique makes a component name unique within the test process, so that a test repeated with
// -count gets a component (workflow id, job) of its own.
func unique(name string) string { return fmt.Sprintf("%s-%d", name, runCounter.Add(1)) }

type answer struct {
	status      int
	contentType string
	body        []byte
}

func (a answer) decode(t *testing.T, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(a.body, v), "body: %s", a.body)
}

func call(t *testing.T, method, url string, body any) answer {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{status: resp.StatusCode, contentType: resp.Header.Get("Content-Type"), body: b}
}

// oneValidationProblem validates text through url and returns the one problem the answer must
// hold (valid false).
func oneValidationProblem(t *testing.T, url, text string) string {
	t.Helper()
	a := call(t, http.MethodPost, url+"/v1/validate", request(text))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	var res api.ValidationResult
	a.decode(t, &res)
	require.False(t, res.Valid, "%s", a.body)
	require.Len(t, res.Error.Errors, 1, "%s", a.body)
	return res.Error.Errors[0]
}

func request(text string) descriptor.Request {
	return descriptor.Request{DescriptorKind: descriptor.ComponentDescriptor, Descriptor: text}
}

func vcID(t *testing.T) string {
	t.Helper()
	vc, ok := st.sim.VC(cdesim.DemoService, cdesim.DemoVC)
	require.True(t, ok)
	return vc.VCID
}

func TestProvisionCreatesTheJobThenUnprovisionDeletesIt(t *testing.T) {
	srv := newAPI(t, nil)
	name := unique("lifecycle")
	text := sparkJar(t, name)
	job := jobName(name)

	a := call(t, http.MethodPost, srv.URL+"/v1/provision", request(text))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	var status map[string]any
	a.decode(t, &status)
	assert.Equal(t, "COMPLETED", status["status"])
	assert.Equal(t, "Spark job "+job+" created in virtual cluster vc-dev of CDE service cde-dev", status["result"])
	info := status["info"].(map[string]any)
	public := info["publicInfo"].(map[string]any)
	assert.Equal(t, map[string]any{"type": "string", "label": "CDE job", "value": job}, public["jobName"])
	assert.NotEmpty(t, info["privateInfo"].(map[string]any)["runId"])
	assert.NotEmpty(t, status["logs"])

	// The job is in the virtual cluster, as the descriptor defines it.
	stored, err := st.sim.Job(vcID(t), job)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(stored, &got))
	spark := got["spark"].(map[string]any)
	assert.Equal(t, "spark-app-0.0.0.jar", spark["file"])
	assert.Equal(t, "com.agilelab.bigdata.workload.spark.app.SparkApp", spark["className"])
	assert.Equal(t, []any{"delta-core_2.12-2.4.0.jar"}, spark["jars"])
	conf := spark["conf"].(map[string]any)
	assert.Equal(t, "64", conf["spark.sql.shuffle.partitions"], "user conf is kept")
	assert.Equal(t, "true", conf["dex.safariEnabled"])
	assert.NotEmpty(t, conf["spark.cde.idBrokerHosts"])
	assert.Equal(t, "30 2 * * *", got["schedule"].(map[string]any)["cronExpression"])
	res, err := st.sim.Resource(vcID(t), descriptor.MainResourceName(job))
	require.NoError(t, err)
	var paths []string
	for _, f := range res.Files {
		paths = append(paths, f.Path)
	}
	assert.ElementsMatch(t, []string{"spark-app-0.0.0.jar", "delta-core_2.12-2.4.0.jar"}, paths, "exactly the user's artifacts")
	_, kept := st.sim.FileBytes(vcID(t), descriptor.ManifestResourceName(job), activities.ManifestPath)
	assert.True(t, kept, "the upload manifest is kept beside the job, in a resource it does not mount")

	// Provisioning a changed descriptor updates the job in place: a PATCH, no second POST.
	st.sim.ResetRequests()
	a = call(t, http.MethodPost, srv.URL+"/v1/provision", request(strings.Replace(text, "numExecutors: 2", "numExecutors: 3", 1)))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	a.decode(t, &status)
	assert.Contains(t, status["result"], "updated")
	assert.Equal(t, 0, countRequests(http.MethodPost, "/dex/api/v1/jobs"))
	assert.Equal(t, 1, countRequests(http.MethodPatch, "/dex/api/v1/jobs/"+job))
	stored, err = st.sim.Job(vcID(t), job)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(stored, &got))
	assert.EqualValues(t, 3, got["spark"].(map[string]any)["numExecutors"])

	a = call(t, http.MethodPost, srv.URL+"/v1/unprovision", request(text))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	a.decode(t, &status)
	assert.Equal(t, "COMPLETED", status["status"])
	assert.Equal(t, "Spark job "+job+" deleted from virtual cluster vc-dev of CDE service cde-dev", status["result"])
	_, err = st.sim.Job(vcID(t), job)
	assert.ErrorIs(t, err, cdesim.ErrNotFound)
	_, err = st.sim.Resource(vcID(t), descriptor.MainResourceName(job))
	assert.ErrorIs(t, err, cdesim.ErrNotFound)
	_, err = st.sim.Resource(vcID(t), descriptor.ManifestResourceName(job))
	assert.ErrorIs(t, err, cdesim.ErrNotFound, "the manifest's resource goes too")

	// Deleting what is already gone is success.
	a = call(t, http.MethodPost, srv.URL+"/v1/unprovision", request(strings.Replace(text, "removeData", "removeData", 1)+"\n# again\n"))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	a.decode(t, &status)
	assert.Contains(t, status["result"], "already absent")
}

// at is the Spark jar example deployed to another service and virtual cluster.
func at(name, service, cluster string) string {
	text, err := os.ReadFile(filepath.Join("..", "examples", "spark-jar.yaml"))
	if err != nil {
		panic(err)
	}
	out := strings.ReplaceAll(string(text), "spark-wl", name)
	out = strings.Replace(out, "cdeService: cde-dev", "cdeService: "+service, 1)
	return strings.Replace(out, "cdeCluster: vc-dev", "cdeCluster: "+cluster, 1)
}

func TestValidate(t *testing.T) {
	srv := newAPI(t, nil)
	tests := []struct {
		name   string
		text   string
		valid  bool
		errors []string // prefixes, in order
	}{
		{"a valid descriptor", sparkJar(t, unique("validate-ok")), true, nil},
		{"an unknown service", at(unique("v"), "nope", "vc-dev"), false, []string{"CDE Service not found"}},
		{"a service that is not running", at(unique("v"), "cde-failed", "vc-failed"), false, []string{"CDE Service exists but is not running"}},
		{"a recently deleted service", at(unique("v"), "cde-old", "vc-old"), false, []string{"CDE Service was recently deleted"}},
		{"an unknown virtual cluster", at(unique("v"), "cde-dev", "vc-nope"), false, []string{"CDE Virtual Cluster not found"}},
		{"a virtual cluster not activated", at(unique("v"), "cde-stage", "vc-stage"), false, []string{"CDE Virtual Cluster exists but is not properly activated"}},
		{"a recently deleted virtual cluster", at(unique("v"), "cde-dev", "vc-gone"), false, []string{"CDE Virtual Cluster was recently deleted"}},
		{"a missing jar and a bad memory in one answer", strings.Replace(strings.Replace(sparkJar(t, unique("validate-many")),
			"spark-app-0.0.0.jar", "missing.jar", 1), "driverMemory: 2g", "driverMemory: 2G", 1), false,
			[]string{"If specified, driver memory", "Job Source application file not found: s3://artifacts/finance/cashflow/0.0.0/missing.jar does not exist"}},
		{"an undecodable descriptor", "dataProduct: [", false, []string{"The descriptor is not valid YAML"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := call(t, http.MethodPost, srv.URL+"/v1/validate", request(tt.text))
			require.Equal(t, http.StatusOK, a.status, "%s", a.body)
			var res api.ValidationResult
			a.decode(t, &res)
			assert.Equal(t, tt.valid, res.Valid, "%s", a.body)
			if tt.valid {
				return
			}
			require.Len(t, res.Error.Errors, len(tt.errors), "%s", a.body)
			for i, prefix := range tt.errors {
				assert.True(t, strings.HasPrefix(res.Error.Errors[i], prefix), "%q should start with %q", res.Error.Errors[i], prefix)
			}
		})
	}
}

func TestAsyncValidation(t *testing.T) {
	srv := newAPI(t, nil)
	a := call(t, http.MethodPost, srv.URL+"/v2/validate", request(sparkJar(t, unique("validate-async"))))
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	assert.True(t, strings.HasPrefix(a.contentType, "text/plain"))
	token := string(a.body)

	var vs api.ValidationStatus
	require.Eventually(t, func() bool {
		a = call(t, http.MethodGet, srv.URL+"/v2/validate/"+token+"/status", nil)
		require.Equal(t, http.StatusOK, a.status, "%s", a.body)
		a.decode(t, &vs)
		return vs.Status != api.StatusRunning
	}, 30*time.Second, 100*time.Millisecond)
	assert.Equal(t, api.StatusCompleted, vs.Status)
	assert.True(t, vs.Info.PublicInfo.Valid)

	// A validation token is not a provisioning token.
	a = call(t, http.MethodGet, srv.URL+"/v1/provision/"+token+"/status", nil)
	assert.Equal(t, http.StatusBadRequest, a.status)
}

func TestProvisionRefusesAnInvalidDescriptorWithEveryProblem(t *testing.T) {
	srv := newAPI(t, nil)
	// Static problem: caught by the API before any run.
	a := call(t, http.MethodPost, srv.URL+"/v1/provision", request(strings.Replace(sparkJar(t, unique("bad-static")), "driverCores: 1", "driverCores: two", 1)))
	require.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
	var body api.RequestValidationError
	a.decode(t, &body)
	assert.Equal(t, "dataProduct.components[1].specific.jobConfig.driverCores", body.InputErrorField)
	assert.NotEmpty(t, body.MoreInfo.Solutions)

	// Problems found by the checks: the run is refused with a 400.
	text := strings.Replace(sparkJar(t, unique("bad-checks")), "cdeCluster: vc-dev", "cdeCluster: vc-none", 1)
	text = strings.Replace(text, "delta-core_2.12-2.4.0.jar", "gone.jar", 1)
	a = call(t, http.MethodPost, srv.URL+"/v1/provision", request(text))
	require.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
	body = api.RequestValidationError{}
	a.decode(t, &body)
	require.Len(t, body.Errors, 2, "%s", a.body)
	assert.True(t, strings.HasPrefix(body.Errors[0], "CDE Virtual Cluster not found"))
	assert.True(t, strings.HasPrefix(body.Errors[1], "Job Source dependencies not found: s3://artifacts/finance/cashflow/0.0.0/libs/gone.jar"))
	assert.Empty(t, body.InputErrorField, "two fields are at fault")
}

func TestUnprovisionIsSkippedWhenTheServiceOrClusterIsGone(t *testing.T) {
	srv := newAPI(t, nil)
	tests := []struct{ name, text, result string }{
		{"deleted service", at(unique("skipped"), deletedService(t), "vc-old"), "Unprovision skipped: CDE Service was recently deleted: service \"cde-old\""},
		{"virtual cluster not activated", at(unique("skipped"), "cde-stage", "vc-stage"), "Unprovision skipped: CDE Virtual Cluster exists but is not properly activated: virtual cluster \"vc-stage\" is AppInstalling"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st.sim.ResetRequests()
			a := call(t, http.MethodPost, srv.URL+"/v1/unprovision", request(tt.text))
			require.Equal(t, http.StatusOK, a.status, "%s", a.body)
			var status api.ProvisioningStatus
			a.decode(t, &status)
			assert.Equal(t, api.StatusCompleted, status.Status)
			assert.True(t, strings.HasPrefix(status.Result, tt.result), status.Result)
			for _, r := range st.sim.Requests() {
				assert.False(t, strings.HasPrefix(r.Target, "vc:") && r.Method == http.MethodDelete, "nothing is deleted: %+v", r)
			}
		})
	}
}

// deletedService is the recently deleted service of the demo seed.
func deletedService(t *testing.T) string {
	t.Helper()
	for _, s := range st.sim.Services() {
		if s.Status == cdesim.StatusServiceDeleted {
			return s.Name
		}
	}
	t.Fatal("the demo seed has no deleted service")
	return ""
}

func TestUnprovisionRetriesATransientCDPErrorInsteadOfSkipping(t *testing.T) {
	srv := newAPI(t, nil)
	name := unique("flaky-cdp")
	text := sparkJar(t, name)
	a := call(t, http.MethodPost, srv.URL+"/v1/provision", request(text))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)

	st.sim.FailNext("POST /api/v1/de/listServices", 2, cdesim.Failure{Status: http.StatusServiceUnavailable})
	a = call(t, http.MethodPost, srv.URL+"/v1/unprovision", request(text))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	var status api.ProvisioningStatus
	a.decode(t, &status)
	assert.Equal(t, "Spark job "+jobName(name)+" deleted from virtual cluster vc-dev of CDE service cde-dev", status.Result)
}

func TestSlowProvisionAnswers202ThenTheStatusEndpointFollowsIt(t *testing.T) {
	srv := newAPI(t, func(c *app.APIConfig) { c.SyncTimeout = 500 * time.Millisecond })
	name := unique("slow")
	text := sparkJar(t, name)
	// Blocking the job's creation holds the run in an activity, where the worker answers the
	// progress query (a step run by a local activity holds the workflow task, and the query waits).
	release := st.sim.Block("POST /dex/api/v1/jobs")
	released := false
	defer func() {
		if !released {
			release()
		}
	}()

	a := call(t, http.MethodPost, srv.URL+"/v1/provision", request(text))
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	assert.True(t, strings.HasPrefix(a.contentType, "text/plain"))
	token := string(a.body)

	// The status shows the step the run is at (the workflow's progress query) and the steps so far.
	var status api.ProvisioningStatus
	require.Eventually(t, func() bool {
		a = call(t, http.MethodGet, srv.URL+"/v1/provision/"+token+"/status", nil)
		require.Equal(t, http.StatusOK, a.status, "%s", a.body)
		status = api.ProvisioningStatus{}
		a.decode(t, &status)
		require.Equal(t, api.StatusRunning, status.Status)
		return status.Result == "The provision is running: Creating or updating job "+jobName(name)
	}, 30*time.Second, 100*time.Millisecond, "%s", a.body)
	assert.NotEmpty(t, status.Logs)

	// The Coordinator retrying the identical request attaches to the run (same token).
	a = call(t, http.MethodPost, srv.URL+"/v1/provision", request(text))
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	assert.Equal(t, token, string(a.body))

	// Another operation on the component while it runs is a conflict naming the running one.
	a = call(t, http.MethodPost, srv.URL+"/v1/unprovision", request(text))
	require.Equal(t, http.StatusConflict, a.status, "%s", a.body)
	var conflict api.SystemError
	a.decode(t, &conflict)
	assert.Contains(t, conflict.Error, "provision, token "+token)

	release()
	released = true
	require.Eventually(t, func() bool {
		a = call(t, http.MethodGet, srv.URL+"/v1/provision/"+token+"/status", nil)
		a.decode(t, &status)
		return status.Status != api.StatusRunning
	}, 30*time.Second, 100*time.Millisecond)
	assert.Equal(t, api.StatusCompleted, status.Status, "%s", a.body)
	assert.Contains(t, status.Result, "created")
}

func TestStatusOfUnknownOrMalformedTokensIsABadRequest(t *testing.T) {
	srv := newAPI(t, nil)
	for _, token := range []string{
		"nonsense",
		api.EncodeToken(workflows.ComponentWorkflowID("development", "urn:dmb:cmp:a:b:0:c"), "0b8a3a2e-1d4c-4f0e-9a55-3f5b6c7d8e9f"),
		api.EncodeToken("someone-elses-workflow", "0b8a3a2e-1d4c-4f0e-9a55-3f5b6c7d8e9f"),
	} {
		a := call(t, http.MethodGet, srv.URL+"/v1/provision/"+token+"/status", nil)
		assert.Equal(t, http.StatusBadRequest, a.status, "%s: %s", token, a.body)
		var body api.RequestValidationError
		a.decode(t, &body)
		assert.Equal(t, "token", body.InputErrorField)
	}
}

func TestRunsAreFindableByComponentAndHoldNoSecret(t *testing.T) {
	srv := newAPI(t, nil)
	name := unique("findable")
	text := sparkJar(t, name)
	a := call(t, http.MethodPost, srv.URL+"/v1/provision", request(text))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	compID := "urn:dmb:cmp:finance:cashflow:0:" + name
	var ids []string
	require.Eventually(t, func() bool {
		resp, err := st.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query: fmt.Sprintf("CdeComponentId = %q", compID),
		})
		require.NoError(t, err)
		ids = ids[:0]
		for _, e := range resp.Executions {
			ids = append(ids, e.Execution.WorkflowId)
		}
		return len(ids) > 0
	}, 20*time.Second, 200*time.Millisecond)
	assert.Equal(t, workflows.ComponentWorkflowID("development", compID), ids[0])

	// Neither the history nor the logs of the shared stack hold one of its credentials (every
	// credential and every place: TestNoCredentialInLogsHistoriesMetricsSpansOrAnswers).
	history := historyText(ctx, t, st.tc, ids[0], "")
	scan := newSecretScan(t,
		credential{"CDP private key", cdesim.DemoPrivateKey},
		credential{"workload password", cdesim.DemoPassword},
		credential{"workload Basic credential", basicCredential(cdesim.DemoUser, cdesim.DemoPassword)},
		credential{"S3 secret access key", "e2e-secret-key"}, // main_test.go's
	)
	scan.check(t, "the history", history)
	scan.check(t, "the logs", st.logs.String())
	assert.Contains(t, history, "UpsertJob", "the history was read")
	// The worker's log lines of the run carry the component id beside the workflow and run ids.
	var runLines int
	for _, line := range strings.Split(st.logs.String(), "\n") {
		if strings.Contains(line, `"WorkflowID":"`+ids[0]+`"`) && strings.Contains(line, `"ActivityType"`) {
			runLines++
			assert.Contains(t, line, `"componentID":"`+compID+`"`)
			assert.Contains(t, line, `"RunID":"`)
		}
	}
	assert.NotZero(t, runLines, "the activities logged")
}

func TestAPermanentCDERefusalFailsTheProvisionWithItsCause(t *testing.T) {
	srv := newAPI(t, func(c *app.APIConfig) { c.SyncTimeout = 500 * time.Millisecond })
	name := unique("refused")
	text := sparkJar(t, name)
	st.sim.FailNext("POST /dex/api/v1/jobs", 1, cdesim.Failure{Status: http.StatusBadRequest, Body: `{"message":"spark.file: unsupported"}`})

	a := call(t, http.MethodPost, srv.URL+"/v1/provision", request(text))
	var status api.ProvisioningStatus
	if a.status == http.StatusAccepted { // the run outlasted the wait: follow the token
		token := string(a.body)
		require.Eventually(t, func() bool {
			a = call(t, http.MethodGet, srv.URL+"/v1/provision/"+token+"/status", nil)
			status = api.ProvisioningStatus{}
			a.decode(t, &status)
			return status.Status != api.StatusRunning
		}, 30*time.Second, 100*time.Millisecond)
	} else {
		require.Equal(t, http.StatusInternalServerError, a.status, "%s", a.body)
		var body api.SystemError
		a.decode(t, &body)
		status = api.ProvisioningStatus{Status: api.StatusFailed, Result: body.Error, UserMessage: body.UserMessage, MoreInfo: body.MoreInfo}
	}
	assert.Equal(t, api.StatusFailed, status.Status)
	assert.Contains(t, status.Result, "creating or updating job "+jobName(name)+" failed")
	assert.Contains(t, status.Result, "spark.file: unsupported")
	assert.NotEmpty(t, status.UserMessage)
	assert.NotEmpty(t, status.MoreInfo.Solutions)
}

func TestShutdownAnswersWaitingRequestsWithTheirToken(t *testing.T) {
	cfg := app.APIConfig{
		Temporal:        app.TemporalConfig{Namespace: "default", TaskQueue: st.workerCf.Temporal.TaskQueue, SearchAttributes: true},
		SyncTimeout:     time.Minute,
		MaxRequestBytes: api.DefaultMaxBodyBytes,
		ShutdownTimeout: 10 * time.Second,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan error, 1)
	go func() {
		stopped <- app.RunAPI(ctx, cfg, st.tc, ln, app.NewLogger(app.LogConfig{Level: "error"}, io.Discard))
	}()

	name := unique("shutdown")
	release := st.sim.Block("GET /dex/api/v1/jobs/" + jobName(name))
	defer release()
	answered := make(chan answer, 1)
	go func() {
		answered <- call(t, http.MethodPost, "http://"+ln.Addr().String()+"/v1/provision", request(sparkJar(t, name)))
	}()
	// Wait until the run is blocked on the job creation, i.e. the request is waiting on it.
	waitCtx, waitCancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer waitCancel()
	require.NoError(t, st.sim.AwaitBlocked(waitCtx, 1))

	cancel()
	select {
	case a := <-answered:
		assert.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
		_, _, err := api.DecodeToken(string(a.body))
		assert.NoError(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal("the waiting request was not answered on shutdown")
	}
	require.NoError(t, <-stopped)
}

// countRequests counts the simulator's requests with this method and path since the last reset.
func countRequests(method, path string) int {
	n := 0
	for _, r := range st.sim.Requests() {
		if r.Method == method && r.Path == path {
			n++
		}
	}
	return n
}

func TestTenIdenticalConcurrentProvisionsRunOneWorkflow(t *testing.T) {
	srv := newAPI(t, nil)
	name := unique("concurrent")
	text := sparkJar(t, name)
	release := st.sim.Block("GET /dex/api/v1/jobs/" + jobName(name))

	const n = 10
	answers := make(chan answer, n)
	for range n {
		go func() { answers <- call(t, http.MethodPost, srv.URL+"/v1/provision", request(text)) }()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, st.sim.AwaitBlocked(ctx, 1))
	release()

	runIDs := map[string]int{}
	for range n {
		a := <-answers
		require.Equal(t, http.StatusOK, a.status, "%s", a.body)
		var status api.ProvisioningStatus
		a.decode(t, &status)
		runIDs[status.Info.PrivateInfo["runId"]]++
	}
	assert.Len(t, runIDs, 1, "every request got the answer of one run: %v", runIDs)

	// Temporal knows one run of the component.
	id := workflows.ComponentWorkflowID("development", "urn:dmb:cmp:finance:cashflow:0:"+name)
	var runs int
	require.Eventually(t, func() bool {
		resp, err := st.tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId = %q", id)})
		require.NoError(t, err)
		runs = len(resp.Executions)
		return runs > 0
	}, 20*time.Second, 100*time.Millisecond)
	assert.Equal(t, 1, runs)
}

func TestProvisionWhileAnUnprovisionRunsIsAConflict(t *testing.T) {
	srv := newAPI(t, func(c *app.APIConfig) { c.SyncTimeout = 500 * time.Millisecond })
	name := unique("conflict")
	text := sparkJar(t, name)
	a := call(t, http.MethodPost, newAPI(t, nil).URL+"/v1/provision", request(text))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)

	release := st.sim.Block("DELETE /dex/api/v1/jobs/" + jobName(name))
	defer release()
	a = call(t, http.MethodPost, srv.URL+"/v1/unprovision", request(text))
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	token := string(a.body)

	a = call(t, http.MethodPost, srv.URL+"/v1/provision", request(text))
	require.Equal(t, http.StatusConflict, a.status, "%s", a.body)
	var body api.SystemError
	a.decode(t, &body)
	assert.Contains(t, body.Error, "unprovision, token "+token)
	assert.Contains(t, body.MoreInfo.Solutions[0], "/v1/provision/"+token+"/status")
}
