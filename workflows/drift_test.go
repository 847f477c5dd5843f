package workflows_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

func driftComponent(name string) activities.DriftComponent {
	return activities.DriftComponent{ComponentID: "urn:dmb:cmp:finance:cashflow:0:" + name, Environment: "development",
		Service: "cde-dev", Cluster: "vc-dev", JobName: "finance-cashflow-0-" + name + "-development"}
}

// A check compares every component, records every report, and goes on past a component whose
// check failed.
func TestDriftCheckComparesEveryComponentAndRecordsTheReports(t *testing.T) {
	env := newEnv(t)
	comps := []activities.DriftComponent{driftComponent("a"), driftComponent("b"), driftComponent("c")}
	env.OnActivity(a.DiscoverDrift, mock.Anything, activities.DriftDiscoverInput{TaskQueue: "tq"}).Return(comps, nil).Once()
	checked := time.Date(2026, 12, 8, 10, 0, 0, 0, time.UTC)
	report := func(c activities.DriftComponent, diffs ...activities.DriftDifference) activities.DriftReport {
		return activities.DriftReport{ComponentID: c.ComponentID, Environment: c.Environment, JobName: c.JobName, CheckedAt: checked, Differences: diffs}
	}
	drifted := report(comps[1], activities.DriftDifference{Field: "spark.driverMemory", Expected: "2g", Actual: "4g"})
	env.OnActivity(a.CheckDrift, mock.Anything, activities.CheckDriftInput{Component: comps[0], Repair: true}).Return(report(comps[0]), nil).Once()
	env.OnActivity(a.CheckDrift, mock.Anything, activities.CheckDriftInput{Component: comps[1], Repair: true}).Return(drifted, nil).Once()
	env.OnActivity(a.CheckDrift, mock.Anything, activities.CheckDriftInput{Component: comps[2], Repair: true}).
		Return(activities.DriftReport{}, temporal.NewNonRetryableApplicationError("CDE refused", "CDERefused", errors.New("x"))).Once()
	env.OnActivity(a.RecordDrift, mock.Anything, activities.DriftRecord{TaskQueue: "tq", Reports: []activities.DriftReport{report(comps[0]), drifted}}).Return(nil).Once()

	env.ExecuteWorkflow(workflows.DriftCheckName, workflows.DriftCheckInput{TaskQueue: "tq", Repair: true})
	require.NoError(t, env.GetWorkflowError())
	var res workflows.DriftCheckResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, 2, res.Checked)
	assert.Equal(t, []string{comps[1].ComponentID}, res.Drifted)
	require.Len(t, res.Failed, 1)
	assert.Contains(t, res.Failed[0], comps[2].ComponentID+": CDE refused")
	env.AssertExpectations(t)
}

// The registry keeps the components whose last run is a completed provision, drops those
// unprovisioned (with their reports), keeps reports of registered components only, and answers
// the drifted ones.
func TestDriftRegistryKeepsTheProvisionedComponentsAndTheirReports(t *testing.T) {
	env := newEnv(t)
	a1, b1 := driftComponent("a"), driftComponent("b")
	t0 := time.Date(2026, 12, 8, 9, 0, 0, 0, time.UTC)
	a1.ProvisionedAt, b1.ProvisionedAt = t0, t0
	update := func(name string, arg any, check func(error)) {
		env.UpdateWorkflow(name, "", &updateCallbacks{t: t, done: check}, arg)
	}
	env.RegisterDelayedCallback(func() {
		update(workflows.UpdateDriftMerge, activities.DriftDiscovery{Until: t0, Provisioned: []activities.DriftComponent{a1, b1}}, func(err error) { require.NoError(t, err) })
	}, time.Second)
	env.RegisterDelayedCallback(func() {
		update(workflows.UpdateDriftRecord, activities.DriftRecord{Reports: []activities.DriftReport{
			{ComponentID: a1.ComponentID, Environment: a1.Environment, Differences: []activities.DriftDifference{{Field: "job", Expected: "present", Actual: "absent"}}},
			{ComponentID: b1.ComponentID, Environment: b1.Environment},
			{ComponentID: "urn:dmb:cmp:x:y:0:unknown", Environment: "development", Differences: []activities.DriftDifference{{Field: "job"}}},
		}}, func(err error) { require.NoError(t, err) })
	}, 2*time.Second)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(workflows.QueryDriftState)
		require.NoError(t, err)
		var state activities.DriftState
		require.NoError(t, v.Get(&state))
		require.Len(t, state.Drifted(), 1)
		assert.Equal(t, a1.ComponentID, state.Drifted()[0].ComponentID)
		assert.Equal(t, []activities.DriftComponent{a1, b1}, state.Active())
		assert.Equal(t, t0, state.Since)
		// a is unprovisioned: it leaves, with its report.
		update(workflows.UpdateDriftMerge, activities.DriftDiscovery{Until: t0.Add(time.Minute), Gone: []string{a1.Key()}}, func(err error) { require.NoError(t, err) })
	}, 3*time.Second)
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(workflows.QueryDriftState)
		require.NoError(t, err)
		var state activities.DriftState
		require.NoError(t, v.Get(&state))
		assert.Empty(t, state.Drifted())
		assert.Equal(t, []activities.DriftComponent{b1}, state.Active())
		env.CancelWorkflow()
	}, 4*time.Second)
	env.ExecuteWorkflow(workflows.DriftRegistryName, activities.DriftState{})
	require.True(t, env.IsWorkflowCompleted())
}

type updateCallbacks struct {
	t    *testing.T
	done func(error)
}

func (u *updateCallbacks) Accept()                   {}
func (u *updateCallbacks) Reject(err error)          { u.t.Errorf("update rejected: %v", err) }
func (u *updateCallbacks) Complete(_ any, err error) { u.done(err) }
