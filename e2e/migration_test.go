package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/app"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// withReferenceID is the Spark jar example with its workload's id (componentIdToProvision
// included) replaced by id, written as a YAML double-quoted string, and its job name by jobName.
func withReferenceID(t *testing.T, id, jobName string) string {
	t.Helper()
	text := example(t, "spark-jar.yaml", "urn:dmb:cmp:finance:cashflow:0:spark-wl", strconv.Quote(id))
	require.Contains(t, text, "jobName: finance-cashflow-0-spark-wl-development")
	return strings.Replace(text, "jobName: finance-cashflow-0-spark-wl-development", "jobName: "+jobName, 1)
}

// deployAsTheReference leaves in the virtual cluster what the reference provisioner leaves for
// a Spark jar job: its files resource mainres-<md5(job name)> holding the jar (no manifest of
// ours), and the job mounting it.
func deployAsTheReference(t *testing.T, jobName string) {
	t.Helper()
	vc := vcID(t)
	res := descriptor.MainResourceName(jobName)
	require.NoError(t, st.sim.AddResource(vc, res, "files", ""))
	require.NoError(t, st.sim.PutFile(vc, res, "spark-app-0.0.0.jar", []byte("the jar the reference uploaded")))
	job, err := json.Marshal(map[string]any{
		"name":   jobName,
		"type":   "spark",
		"mounts": []any{map[string]any{"resourceName": res}},
		"spark": map[string]any{
			"file":      "spark-app-0.0.0.jar",
			"className": "com.agilelab.bigdata.workload.spark.app.SparkApp",
			"conf":      map[string]any{"dex.safariEnabled": "true"},
		},
	})
	require.NoError(t, err)
	require.NoError(t, st.sim.PutJob(vc, job))
}

// TestMigrationFromTheReferenceProvisioner: a component the reference provisioner deployed, with
// an id of a shape the template never writes (a dot in a part), is validated, provisioned and
// unprovisioned through the API under the job name the reference gave it: the job is updated in
// place (no second job, no rename) and then removed with its resource.
func TestMigrationFromTheReferenceProvisioner(t *testing.T) {
	srv := newAPI(t, nil)
	name := unique("ref-wl")
	id := "urn:dmb:cmp:finance:cash.flow:0:" + name
	job := "finance-cash-flow-0-" + name + "-development" // the reference's sanitise(id without prefix + "-" + environment)
	text := withReferenceID(t, id, job)
	deployAsTheReference(t, job)
	vc := vcID(t)
	before, err := st.sim.JobNames(vc)
	require.NoError(t, err)

	a := call(t, http.MethodPost, srv.URL+"/v1/validate", request(text))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	var res api.ValidationResult
	a.decode(t, &res)
	require.True(t, res.Valid, "%s", a.body)

	st.sim.ResetRequests()
	status := provision(t, srv.URL, text)
	require.Equal(t, api.StatusCompleted, status.Status, "%+v", status)
	assert.Equal(t, "Spark job "+job+" updated in virtual cluster vc-dev of CDE service cde-dev", status.Result)
	assert.Equal(t, 0, countRequests(http.MethodPost, "/dex/api/v1/jobs"), "the reference's job is updated, not created again")
	after, err := st.sim.JobNames(vc)
	require.NoError(t, err)
	assert.ElementsMatch(t, before, after, "no job under another name")

	stored, err := st.sim.Job(vc, job)
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.Unmarshal(stored, &got))
	spark := got["spark"].(map[string]any)
	assert.Equal(t, []any{"delta-core_2.12-2.4.0.jar"}, spark["jars"], "the job is now the descriptor's")
	assert.Equal(t, "30 2 * * *", got["schedule"].(map[string]any)["cronExpression"])
	resource, err := st.sim.Resource(vc, descriptor.MainResourceName(job))
	require.NoError(t, err)
	var paths []string
	for _, f := range resource.Files {
		if f.Path != activities.ManifestPath { // wherever the provisioner keeps its manifest
			paths = append(paths, f.Path)
		}
	}
	assert.ElementsMatch(t, []string{"spark-app-0.0.0.jar", "delta-core_2.12-2.4.0.jar"}, paths)
	jar, ok := st.sim.FileBytes(vc, descriptor.MainResourceName(job), "spark-app-0.0.0.jar")
	if ok { // the simulator keeps small files' bytes
		assert.NotEqual(t, "the jar the reference uploaded", string(jar), "the jar is the one on S3 now")
	}

	// The runs of the component are under its id, odd characters and all.
	assertRunOf(t, id, "development")

	a = call(t, http.MethodPost, srv.URL+"/v1/unprovision", request(text))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	a.decode(t, &status)
	assert.Equal(t, api.StatusCompleted, status.Status)
	assert.Equal(t, "Spark job "+job+" deleted from virtual cluster vc-dev of CDE service cde-dev", status.Result)
	_, err = st.sim.Job(vc, job)
	assert.ErrorIs(t, err, cdesim.ErrNotFound)
	_, err = st.sim.Resource(vc, descriptor.MainResourceName(job))
	assert.ErrorIs(t, err, cdesim.ErrNotFound)
}

// TestMigrationReferenceIDsWithOddCharacters: ids the reference accepted with characters that
// matter to Temporal ids, tokens and URLs (spaces, slashes, #, %, ?, quotes, non-ASCII, fewer
// parts than the template) are provisioned, followed through the token of a 202 answer, and
// unprovisioned, each under the reference's job name.
func TestMigrationReferenceIDsWithOddCharacters(t *testing.T) {
	srv := newAPI(t, func(c *app.APIConfig) { c.SyncTimeout = 300 * time.Millisecond })
	tests := []struct{ name, rest, job string }{
		{"space, slash, hash, percent, question mark and quotes", `fin ance/x#1%2F?a="q":0:`, `fin-ance-x-1-2F-a--q--0-`},
		{"non-ASCII letters", "finanza:flusso€:0:", "finanza-flusso--0-"},
		{"one part", "", ""},
		{"a backslash and a tab", "fin\\ance\t:0:", "fin-ance--0-"},
		{"a newline", "fin\nance:0:", "fin-ance-0-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := unique("odd")
			id := descriptor.ComponentIDPrefix + tt.rest + name
			job := tt.job + name + "-development"
			text := withReferenceID(t, id, job)
			vc := vcID(t)

			// A 202 (the job creation is held back past the synchronous wait), then its token.
			release := st.sim.Block("GET /dex/api/v1/jobs/" + job)
			a := call(t, http.MethodPost, srv.URL+"/v1/provision", request(text))
			release()
			require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
			token := string(a.body)
			wfID, _, err := api.DecodeToken(token)
			require.NoError(t, err)
			assert.Equal(t, workflows.ComponentWorkflowID("development", id), wfID)
			assert.Equal(t, id, workflows.ComponentIDFromWorkflowID(wfID))
			status := awaitStatus(t, srv.URL, token)
			require.Equal(t, api.StatusCompleted, status.Status, "%+v", status)
			assert.Equal(t, "Spark job "+job+" created in virtual cluster vc-dev of CDE service cde-dev", status.Result)
			_, err = st.sim.Job(vc, job)
			require.NoError(t, err, "the job is under the reference's name")
			assertRunOf(t, id, "development")

			a = call(t, http.MethodPost, newAPI(t, nil).URL+"/v1/unprovision", request(text))
			require.Equal(t, http.StatusOK, a.status, "%s", a.body)
			a.decode(t, &status)
			assert.Equal(t, "Spark job "+job+" deleted from virtual cluster vc-dev of CDE service cde-dev", status.Result)
			_, err = st.sim.Job(vc, job)
			assert.ErrorIs(t, err, cdesim.ErrNotFound)
		})
	}
}

// TestMigrationWorkflowIDsOfReferenceIDs: the workflow id of a component keeps the id as it is
// when it is printable ASCII (every id accepted before, whose runs exist, keeps its workflow id),
// escapes what a gRPC header cannot carry, and gives the id back for the logs.
func TestMigrationWorkflowIDsOfReferenceIDs(t *testing.T) {
	assert.Equal(t, "cde-spark/development/urn:dmb:cmp:finance:cashflow:0:spark-wl",
		workflows.ComponentWorkflowID("development", "urn:dmb:cmp:finance:cashflow:0:spark-wl"))
	assert.Equal(t, "cde-spark/development/urn:dmb:cmp:finance:cash.flow:0:spark wl/#?\"x\"",
		workflows.ComponentWorkflowID("development", "urn:dmb:cmp:finance:cash.flow:0:spark wl/#?\"x\""))
	assert.Equal(t, "cde-spark/development/urn:dmb:cmp:caf%C3%A9%25%0A:0:x",
		workflows.ComponentWorkflowID("development", "urn:dmb:cmp:café%\n:0:x"))
	for _, id := range []string{
		"urn:dmb:cmp:finance:cashflow:0:spark-wl", "urn:dmb:cmp:my_dm.my_dp.1.my_wl", "urn:dmb:cmp:a/b/c",
		"urn:dmb:cmp:caf%C3%A9", "urn:dmb:cmp:café", "urn:dmb:cmp:%", "urn:dmb:cmp:%%41", "urn:dmb:cmp:\t\x00\u00ff😀", "urn:dmb:cmp:100%",
	} {
		for _, wfID := range []string{
			workflows.ComponentWorkflowID("development", id),
			workflows.ValidateWorkflowID("development", id, "0123456789abcdef0123"),
		} {
			for _, c := range []byte(wfID) {
				require.True(t, c >= 0x20 && c <= 0x7e, "%q is not printable ASCII", wfID)
			}
			assert.Equal(t, id, workflows.ComponentIDFromWorkflowID(wfID), wfID)
			assert.True(t, workflows.IsOwnWorkflowID(wfID))
		}
	}
	// Distinct ids, distinct workflow ids (one lock per component).
	assert.NotEqual(t, workflows.ComponentWorkflowID("d", "urn:dmb:cmp:café"), workflows.ComponentWorkflowID("d", "urn:dmb:cmp:caf%C3%A9"))
}

// awaitStatus follows a provisioning token until the run ends.
func awaitStatus(t *testing.T, url, token string) api.ProvisioningStatus {
	t.Helper()
	var status api.ProvisioningStatus
	require.Eventually(t, func() bool {
		a := call(t, http.MethodGet, url+"/v1/provision/"+token+"/status", nil)
		require.Equal(t, http.StatusOK, a.status, "%s", a.body)
		status = api.ProvisioningStatus{}
		a.decode(t, &status)
		return status.Status != api.StatusRunning
	}, 30*time.Second, 100*time.Millisecond)
	return status
}

// assertRunOf checks that the component's workflow id holds its id as given, and that the run
// carries it as its CdeComponentId search attribute.
func assertRunOf(t *testing.T, id, env string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	desc, err := st.tc.DescribeWorkflow(ctx, workflows.ComponentWorkflowID(env, id), "")
	require.NoError(t, err)
	got, ok := desc.TypedSearchAttributes.GetKeyword(workflows.SAComponentID)
	require.True(t, ok)
	assert.Equal(t, id, got)
}
