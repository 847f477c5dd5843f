package e2e_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/app"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// TestARunNoWorkerPicksUpEndsFailedAfterItsBoundAndFreesTheComponent: an API whose task queue no
// worker polls (a wrong TEMPORAL_TASK_QUEUE) reports it on /health, and its run ends FAILED
// after RUN_TIMEOUT saying no worker took it, instead of holding the component's lock forever.
// The component is then provisioned by the real queue's workers.
func TestARunNoWorkerPicksUpEndsFailedAfterItsBoundAndFreesTheComponent(t *testing.T) {
	lonely := newAPI(t, func(c *app.APIConfig) {
		c.Temporal.TaskQueue = "nobody-polls-" + unique("q")
		c.RunTimeout = 3 * time.Second
	})
	a := call(t, http.MethodGet, lonely.URL+"/health", nil)
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	var health map[string]any
	a.decode(t, &health)
	assert.Equal(t, float64(0), health["workerPollers"])
	assert.Contains(t, health["warning"], "no worker polls task queue nobody-polls-")

	name := unique("unpicked")
	text := sparkJar(t, name)
	a = call(t, http.MethodPost, lonely.URL+"/v1/provision", request(text))
	require.Equal(t, http.StatusInternalServerError, a.status, "%s", a.body)
	var failed api.SystemError
	a.decode(t, &failed)
	assert.Contains(t, failed.Error, "no worker picked up the run within 3s (RUN_TIMEOUT)")
	assert.Contains(t, failed.Error, "no worker polls task queue nobody-polls-")

	// Followed through its token, as the Coordinator does after a 202: RUNNING while it waits
	// for a worker, then FAILED with the same reason.
	lonelyAsync := newAPI(t, func(c *app.APIConfig) {
		c.Temporal.TaskQueue = "nobody-polls-" + unique("q")
		c.RunTimeout = 3 * time.Second
		c.SyncTimeout = 200 * time.Millisecond
	})
	a = call(t, http.MethodPost, lonelyAsync.URL+"/v1/provision", request(text))
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	token := string(a.body)
	var status api.ProvisioningStatus
	a = call(t, http.MethodGet, lonelyAsync.URL+"/v1/provision/"+token+"/status", nil)
	a.decode(t, &status)
	if status.Status == api.StatusRunning { // unless the bound passed already
		assert.Contains(t, status.Result, "waiting for a worker")
	}
	require.Eventually(t, func() bool {
		a = call(t, http.MethodGet, lonelyAsync.URL+"/v1/provision/"+token+"/status", nil)
		status = api.ProvisioningStatus{}
		a.decode(t, &status)
		return status.Status != api.StatusRunning
	}, 30*time.Second, 200*time.Millisecond)
	assert.Equal(t, api.StatusFailed, status.Status)
	assert.Contains(t, status.Result, "no worker picked up the run within 3s (RUN_TIMEOUT)")

	healthy := newAPI(t, nil)
	a = call(t, http.MethodGet, healthy.URL+"/health", nil)
	health = nil
	a.decode(t, &health)
	assert.GreaterOrEqual(t, health["workerPollers"], float64(1))
	assert.Nil(t, health["warning"])

	status = provision(t, healthy.URL, text)
	assert.Equal(t, api.StatusCompleted, status.Status)
	assert.Equal(t, "Spark job "+jobName(name)+" created in virtual cluster vc-dev of CDE service cde-dev", status.Result)
}

// TestAWorkflowStartedDirectlyOnTemporalGetsTheAPIsChecks: Temporal is a trust boundary. A
// provision started with another client, whose job name is not the component's, fails as
// refused before any call to CDP or CDE.
func TestAWorkflowStartedDirectlyOnTemporalGetsTheAPIsChecks(t *testing.T) {
	name := unique("direct")
	d, problems := descriptor.Check(sparkJar(t, name))
	require.Empty(t, problems)
	d.Component.Specific.JobName = "payroll-salaries-0-spark-wl-development" // someone else's job

	st.sim.ResetRequests()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := st.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        workflows.ComponentWorkflowID(d.DataProduct.Environment, d.ComponentID),
		TaskQueue: st.workerCf.Temporal.TaskQueue,
	}, workflows.ProvisionName, workflows.Input{Descriptor: *d})
	require.NoError(t, err)
	err = run.Get(ctx, nil)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, workflows.ErrTypeInvalid, appErr.Type())
	var failure workflows.Failure
	require.NoError(t, appErr.Details(&failure))
	require.Len(t, failure.Problems, 1)
	assert.Equal(t, "dataProduct.components[1].specific.jobName", failure.Problems[0].Field)
	assert.True(t, strings.HasPrefix(failure.Problems[0].Message, "Job name"), failure.Problems[0].Message)
	assert.Empty(t, st.sim.Requests(), "no call reached CDP or CDE")
}
