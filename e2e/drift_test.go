package e2e_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/app"
)

// driftSchedule schedules drift checks on the test's task queue every few seconds (the worker's
// own minimum is a minute), and removes the Schedule when the test ends.
func driftSchedule(t *testing.T, repair bool) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	tq := st.workerCf.Temporal.TaskQueue
	require.NoError(t, app.EnsureDriftSchedule(context.Background(), st.tc, tq, 2*time.Second, repair, logger))
	t.Cleanup(func() { _ = app.EnsureDriftSchedule(context.Background(), st.tc, tq, 0, false, logger) })
}

func driftOf(t *testing.T, url, componentID string) (activities.DriftReport, bool) {
	t.Helper()
	a := call(t, http.MethodGet, url+"/v1/drift", nil)
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	var body api.DriftAnswer
	a.decode(t, &body)
	for _, c := range body.Components {
		require.NotEmpty(t, c.Differences, "only drifted components are listed")
		if c.ComponentID == componentID {
			return c, true
		}
	}
	return activities.DriftReport{}, false
}

// editJob changes the stored job as someone would in the CDE UI.
func editJob(t *testing.T, name string, edit func(job map[string]any)) {
	t.Helper()
	raw, err := st.sim.Job(vcID(t), name)
	require.NoError(t, err)
	var job map[string]any
	require.NoError(t, json.Unmarshal(raw, &job))
	edit(job)
	raw, err = json.Marshal(job)
	require.NoError(t, err)
	require.NoError(t, st.sim.PutJob(vcID(t), raw))
}

func jobsClient(t *testing.T) *cde.JobsClient {
	t.Helper()
	svc, ok := st.sim.Service(cdesim.DemoService)
	require.True(t, ok)
	vc, ok := st.sim.VC(cdesim.DemoService, cdesim.DemoVC)
	require.True(t, ok)
	jobs, err := cde.NewJobsClient(vc.APIURL, st.acts.Tokens.ForHost(svc.ClusterFqdn), st.acts.HTTP)
	require.NoError(t, err)
	return jobs
}

var driftGauge = regexp.MustCompile(`(?m)^cde_drifted_components(?:\{[^}]*\})? (\d+)`)

func TestDriftIsFoundReportedAndClearedByAProvisionThenRepaired(t *testing.T) {
	srv := newAPI(t, nil)
	name := unique("drifting")
	text := sparkJar(t, name)
	job := jobName(name)
	componentID := "urn:dmb:cmp:finance:cashflow:0:" + name
	require.Equal(t, api.StatusCompleted, provision(t, srv.URL, text).Status)

	// Someone gives the job more memory in the CDE UI and deletes a file of its resource.
	editJob(t, job, func(j map[string]any) { j["spark"].(map[string]any)["driverMemory"] = "8g" })
	main := descriptor.MainResourceName(job)
	res, err := st.sim.Resource(vcID(t), main)
	require.NoError(t, err)
	require.NotEmpty(t, res.Files)
	gone := res.Files[0].Path
	require.NoError(t, jobsClient(t).DeleteResourceFile(context.Background(), main, gone))

	driftSchedule(t, false)
	var report activities.DriftReport
	require.Eventually(t, func() bool {
		var ok bool
		report, ok = driftOf(t, srv.URL, componentID)
		return ok
	}, 90*time.Second, 500*time.Millisecond, "the drift is reported")
	assert.Equal(t, job, report.JobName)
	assert.Equal(t, "development", report.Environment)
	assert.False(t, report.CheckedAt.IsZero())
	fields := map[string]activities.DriftDifference{}
	for _, d := range report.Differences {
		fields[d.Field] = d
	}
	assert.Contains(t, fields, "spark.driverMemory")
	assert.Equal(t, "8g", fields["spark.driverMemory"].Actual)
	assert.Contains(t, fields, "file "+main+"/"+gone)
	assert.Equal(t, "absent", fields["file "+main+"/"+gone].Actual)

	// The gauge counts it (with every other drifted component of this test run).
	require.Eventually(t, func() bool {
		m := driftGauge.FindStringSubmatch(string(call(t, http.MethodGet, srv.URL+"/metrics", nil).body))
		if m == nil {
			return false
		}
		n, _ := strconv.Atoi(m[1])
		return n >= 1
	}, 60*time.Second, time.Second, "cde_drifted_components")

	// A provision of the component restores it: the next check clears its drift.
	require.Equal(t, api.StatusCompleted, provision(t, newAPI(t, func(c *app.APIConfig) { c.DedupeWindow = 0 }).URL, text).Status)
	require.Eventually(t, func() bool {
		_, ok := driftOf(t, srv.URL, componentID)
		return !ok
	}, 90*time.Second, 500*time.Millisecond, "the drift is cleared")

	// With DRIFT_REPAIR, a check re-applies the desired state itself.
	driftSchedule(t, true)
	editJob(t, job, func(j map[string]any) { j["spark"].(map[string]any)["executorMemory"] = "16g" })
	require.Eventually(t, func() bool {
		return storedJob(t, job).Spark.ExecutorMemory != "16g"
	}, 90*time.Second, 500*time.Millisecond, "the job is repaired")
	assert.Equal(t, "4g", storedJob(t, job).Spark.ExecutorMemory)
}
