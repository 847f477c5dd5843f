package e2e_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// resourcePaths lists the files of a resource of the demo virtual cluster.
func resourcePaths(t *testing.T, name string) []string {
	t.Helper()
	res, err := st.sim.Resource(vcID(t), name)
	require.NoError(t, err)
	var out []string
	for _, f := range res.Files {
		out = append(out, f.Path)
	}
	return out
}

// TestARefusedJobUpdateLeavesTheLiveJobsFilesInPlace: files the descriptor no longer lists are
// removed only once the job is updated. When CDE refuses the update, the deployed job keeps
// every file it references; the next provision that succeeds removes them.
func TestARefusedJobUpdateLeavesTheLiveJobsFilesInPlace(t *testing.T) {
	srv := newAPI(t, nil)
	name := unique("live")
	text := sparkJar(t, name)
	job := jobName(name)
	mainRes := descriptor.MainResourceName(job)
	require.Equal(t, api.StatusCompleted, provision(t, srv.URL, text).Status)
	require.Contains(t, resourcePaths(t, mainRes), "delta-core_2.12-2.4.0.jar")
	before, err := st.sim.Job(vcID(t), job)
	require.NoError(t, err)

	// The dependency is dropped from the descriptor, and CDE refuses the job's update.
	changed := strings.Replace(text, "          dependencies:\n            - s3://artifacts/finance/cashflow/0.0.0/libs/delta-core_2.12-2.4.0.jar\n", "", 1)
	require.NotEqual(t, text, changed)
	st.sim.FailNext("PATCH /dex/api/v1/jobs/"+job, 1, cdesim.Failure{Status: http.StatusBadRequest, Body: `{"message":"spark.jars: refused"}`})
	a := call(t, http.MethodPost, srv.URL+"/v1/provision", request(changed))
	require.Equal(t, http.StatusInternalServerError, a.status, "%s", a.body)
	assert.Contains(t, string(a.body), "spark.jars: refused")

	after, err := st.sim.Job(vcID(t), job)
	require.NoError(t, err)
	assert.JSONEq(t, string(before), string(after), "the deployed job is unchanged")
	assert.Contains(t, resourcePaths(t, mainRes), "delta-core_2.12-2.4.0.jar", "the live job still references it")

	status := provision(t, srv.URL, changed)
	require.Equal(t, api.StatusCompleted, status.Status)
	assert.NotContains(t, resourcePaths(t, mainRes), "delta-core_2.12-2.4.0.jar", "removed once the job no longer references it")
	assert.Contains(t, logMessages(status), "Removed delta-core_2.12-2.4.0.jar from resource "+mainRes)
}

// TestUnprovisionAttemptsEveryDeleteAndReportsTheFailures: a resource CDE refuses to delete
// does not stop the others; the answer names the failure, and a retry finishes the job.
func TestUnprovisionAttemptsEveryDeleteAndReportsTheFailures(t *testing.T) {
	srv := newAPI(t, nil)
	name := unique("undelete")
	text := sparkJar(t, name)
	job := jobName(name)
	mainRes := descriptor.MainResourceName(job)
	require.Equal(t, api.StatusCompleted, provision(t, srv.URL, text).Status)

	st.sim.FailNext("DELETE /dex/api/v1/resources/"+mainRes, 1, cdesim.Failure{Status: http.StatusBadRequest, Body: `{"message":"resource in use"}`})
	a := call(t, http.MethodPost, srv.URL+"/v1/unprovision", request(text))
	require.Equal(t, http.StatusInternalServerError, a.status, "%s", a.body)
	var failed api.SystemError
	a.decode(t, &failed)
	assert.Contains(t, failed.Error, "deleting resource "+mainRes+" failed")
	assert.Contains(t, failed.Error, "resource in use")
	_, err := st.sim.Job(vcID(t), job)
	assert.Error(t, err, "the job was deleted all the same")

	a = call(t, http.MethodPost, srv.URL+"/v1/unprovision", request(text))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	_, err = st.sim.Resource(vcID(t), mainRes)
	assert.Error(t, err, "the retry deleted the resource")
}
