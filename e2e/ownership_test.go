package e2e_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// TestTwoComponentsWithOneJobNameNeverTouchEachOthersJob: ids that differ only in characters
// other than letters and digits map to the same job name. The job belongs to the component that
// deployed it: the other one's validation reports the collision, its provision is refused before
// anything is uploaded, and its unprovision deletes nothing.
func TestTwoComponentsWithOneJobNameNeverTouchEachOthersJob(t *testing.T) {
	srv := newAPI(t, nil)
	n := unique("owned")
	textA := sparkJar(t, n+"-x")
	textB := strings.ReplaceAll(textA, ":0:"+n+"-x", ":0:"+n+".x")
	idA, idB := "urn:dmb:cmp:finance:cashflow:0:"+n+"-x", "urn:dmb:cmp:finance:cashflow:0:"+n+".x"
	require.Contains(t, textB, idB)
	job := jobName(n + "-x")

	require.Equal(t, api.StatusCompleted, provision(t, srv.URL, textA).Status)
	before, err := st.sim.Job(vcID(t), job)
	require.NoError(t, err)
	assert.Contains(t, string(before), `"`+descriptor.ConfOwnerKey+`":"`+idA+`"`, "the job records its owner")
	sent := st.sim.UploadedBytes(vcID(t), descriptor.MainResourceName(job))

	msg := oneValidationProblem(t, srv.URL, textB)
	assert.True(t, strings.HasPrefix(msg, "Job name "+job+" is already used by component "+idA), msg)

	a := call(t, http.MethodPost, srv.URL+"/v1/provision", request(textB))
	require.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
	var refused api.RequestValidationError
	a.decode(t, &refused)
	assert.Equal(t, "dataProduct.components[1].specific.jobName", refused.InputErrorField)
	assert.Contains(t, refused.UserMessage+strings.Join(refused.Errors, " "), idA)
	after, err := st.sim.Job(vcID(t), job)
	require.NoError(t, err)
	assert.JSONEq(t, string(before), string(after), "A's job is unchanged")
	assert.Equal(t, sent, st.sim.UploadedBytes(vcID(t), descriptor.MainResourceName(job)), "nothing was uploaded into A's resource")

	a = call(t, http.MethodPost, srv.URL+"/v1/unprovision", request(textB))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	var status api.ProvisioningStatus
	a.decode(t, &status)
	assert.True(t, strings.HasPrefix(status.Result, "Unprovision skipped: Job name "+job+" is already used by component "+idA), status.Result)
	_, err = st.sim.Job(vcID(t), job)
	require.NoError(t, err, "A's job is still there")
	_, err = st.sim.Resource(vcID(t), descriptor.MainResourceName(job))
	require.NoError(t, err, "and so are its files")

	a = call(t, http.MethodPost, srv.URL+"/v1/unprovision", request(textA))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	_, err = st.sim.Job(vcID(t), job)
	assert.Error(t, err, "A unprovisions its own job")
}
