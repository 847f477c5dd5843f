package e2e_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

// A CDE and a control plane that answer the first two requests of every route with 503 (a
// virtual cluster scaling) cost a provision nothing but the cde client's own quick retries: it
// completes, and no activity needed a second attempt. (How long it takes is measured by the
// benchmark, not here.)
func TestFaultsTwo503sOnEveryRouteStillProvision(t *testing.T) {
	srv := newAPI(t, nil)
	name := unique("faults-503")
	text := sparkJar(t, name)

	// The worker's Knox token is dropped, so that Knox is asked (and fails) too.
	svc, ok := st.sim.Service(cdesim.DemoService)
	require.True(t, ok)
	st.acts.Tokens.Invalidate(svc.ClusterFqdn)

	st.sim.ResetRequests()
	// "/*/**" matches every path of the control plane, Knox and the jobs API; each distinct
	// method and path fails its first two requests.
	st.sim.FailEachNext("/*/**", 2, cdesim.Failure{Status: http.StatusServiceUnavailable})
	t.Cleanup(st.sim.ClearFaults)

	a := call(t, http.MethodPost, srv.URL+"/v1/provision", request(text))
	var status map[string]any
	if a.status == http.StatusAccepted { // the run outlasted the wait: follow the token
		token := string(a.body)
		require.Eventually(t, func() bool {
			a = call(t, http.MethodGet, srv.URL+"/v1/provision/"+token+"/status", nil)
			status = nil
			a.decode(t, &status)
			return status["status"] != api.StatusRunning
		}, 2*time.Minute, 200*time.Millisecond)
	} else {
		require.Equal(t, http.StatusOK, a.status, "%s", a.body)
		a.decode(t, &status)
	}
	st.sim.ClearFaults()
	require.Equal(t, "COMPLETED", status["status"], "%v", status)
	assert.Equal(t, "Spark job "+jobName(name)+" created in virtual cluster vc-dev of CDE service cde-dev", status["result"])
	_, err := st.sim.Job(vcID(t), jobName(name))
	require.NoError(t, err, "the job is deployed")

	// The faults were there, on the control plane, Knox and the jobs API alike.
	failed := map[string]bool{}
	for _, r := range st.sim.Requests() {
		if r.Fault == "fail" {
			switch {
			case r.Target == "controlplane":
				failed["controlplane"] = true
			case len(r.Target) > 5 && r.Target[:5] == "knox:":
				failed["knox"] = true
			case len(r.Target) > 3 && r.Target[:3] == "vc:":
				failed["vc"] = true
			}
		}
	}
	assert.Equal(t, map[string]bool{"controlplane": true, "knox": true, "vc": true}, failed)

	// Absorbed per request: every activity of the run succeeded on its first attempt.
	info, _ := status["info"].(map[string]any)
	private, _ := info["privateInfo"].(map[string]any)
	workflowID, _ := private["workflowId"].(string)
	runID, _ := private["runId"].(string)
	require.NotEmpty(t, workflowID, "%v", private)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	iter := st.tc.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	activitiesRun := 0
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		if started := ev.GetActivityTaskStartedEventAttributes(); started != nil {
			activitiesRun++
			assert.EqualValues(t, 1, started.GetAttempt(), "event %d: an activity was retried", ev.GetEventId())
		}
	}
	assert.NotZero(t, activitiesRun)

	// Unprovision (faults cleared) leaves nothing behind.
	a = call(t, http.MethodPost, srv.URL+"/v1/unprovision", request(text))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
}
