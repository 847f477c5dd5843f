package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/witboost-community/cde-spark-provisioner/activities"
)

// Drift detection. A Temporal Schedule (one per deployment: its id holds the task queue) starts a
// DriftCheck run every DRIFT_CHECK_INTERVAL. The run asks which components' last operation was a
// completed provision (DiscoverDrift, which keeps the answer in the deployment's DriftRegistry),
// compares each one's job in CDE with its desired state (CheckDrift), and records the reports in
// the registry, which the API's GET /v1/drift and the cde_drifted_components gauge read.
//
// The registry is a long-running workflow: an open run is not subject to the namespace's
// history retention, so the list of components outlives it; it continues as new when its
// history grows. What each component's job should be is not in Temporal at all but in CDE,
// beside the job (activities.DesiredStatePath and the upload manifest).

// Registered names.
const (
	DriftCheckName    = "cde.DriftCheck"
	DriftRegistryName = "cde.DriftRegistry"
)

// DriftScheduleID is the id of the Schedule of the deployment whose workers poll taskQueue.
func DriftScheduleID(taskQueue string) string { return "cde-spark-drift/" + taskQueue }

// DriftRegistryID is the id of the registry of the deployment whose workers poll taskQueue.
func DriftRegistryID(taskQueue string) string { return DriftScheduleID(taskQueue) + "/registry" }

// DriftCheckWorkflowID is the id the Schedule gives each check (it appends the start time).
func DriftCheckWorkflowID(taskQueue string) string { return DriftScheduleID(taskQueue) + "/check" }

// Registry updates and queries.
const (
	// UpdateDriftMerge merges what DiscoverDrift found (activities.DriftDiscovery) and answers
	// the components to check.
	UpdateDriftMerge = "merge"
	// UpdateDriftRecord records the reports of a check (activities.DriftRecord).
	UpdateDriftRecord = "record"
	// QueryDriftState answers the registry's state (activities.DriftState).
	QueryDriftState = "state"
)

// DriftCheckInput is the Schedule's argument of every check.
type DriftCheckInput struct {
	TaskQueue string `json:"taskQueue"`
	// Repair re-applies the desired state of a drifted component (DRIFT_REPAIR).
	Repair bool `json:"repair,omitempty"`
}

// DriftCheckResult sums a check up, for the Temporal UI.
type DriftCheckResult struct {
	Checked  int      `json:"checked"`
	Drifted  []string `json:"drifted,omitempty"` // component ids
	Repaired []string `json:"repaired,omitempty"`
	Failed   []string `json:"failed,omitempty"` // components whose check failed: "<id>: <cause>"
}

// driftConcurrency bounds the components checked at once by one run.
const driftConcurrency = 8

var driftOptions = workflow.ActivityOptions{
	StartToCloseTimeout:    5 * time.Minute,
	ScheduleToCloseTimeout: 15 * time.Minute,
	RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
}

// DriftCheck is one run of drift detection.
func DriftCheck(ctx workflow.Context, in DriftCheckInput) (DriftCheckResult, error) {
	ctx = workflow.WithActivityOptions(ctx, driftOptions)
	var components []activities.DriftComponent
	if err := workflow.ExecuteActivity(ctx, a.DiscoverDrift, activities.DriftDiscoverInput{TaskQueue: in.TaskQueue}).Get(ctx, &components); err != nil {
		return DriftCheckResult{}, fmt.Errorf("listing the provisioned components failed: %w", err)
	}

	// Check the components, at most driftConcurrency at a time; a component whose check fails
	// (after its retries) is reported as failed, the others are still checked.
	reports := make([]*activities.DriftReport, len(components))
	failures := make([]string, len(components))
	running, next := 0, 0
	sel := workflow.NewSelector(ctx)
	for next < len(components) || running > 0 {
		for running < driftConcurrency && next < len(components) {
			i := next
			next++
			running++
			f := workflow.ExecuteActivity(ctx, a.CheckDrift, activities.CheckDriftInput{Component: components[i], Repair: in.Repair})
			sel.AddFuture(f, func(f workflow.Future) {
				running--
				var r activities.DriftReport
				if err := f.Get(ctx, &r); err != nil {
					failures[i] = components[i].ComponentID + ": " + causeMessage(err)
					return
				}
				reports[i] = &r
			})
		}
		sel.Select(ctx)
	}

	var res DriftCheckResult
	var record activities.DriftRecord
	for i, r := range reports {
		if r == nil {
			res.Failed = append(res.Failed, failures[i])
			continue
		}
		res.Checked++
		record.Reports = append(record.Reports, *r)
		if r.Drifted() {
			res.Drifted = append(res.Drifted, r.ComponentID)
		}
		if len(r.Repaired) > 0 {
			res.Repaired = append(res.Repaired, r.ComponentID)
		}
	}
	record.TaskQueue = in.TaskQueue
	if err := workflow.ExecuteActivity(ctx, a.RecordDrift, record).Get(ctx, nil); err != nil {
		return res, fmt.Errorf("recording the reports failed: %w", err)
	}
	return res, nil
}

// driftRegistryEvents is the history length past which the registry continues as new, with its
// state, unless the server suggests it earlier.
const driftRegistryEvents = 2000

// DriftRegistry keeps a deployment's provisioned components and their last drift reports. It
// runs for good (continuing as new), changed only through its updates.
func DriftRegistry(ctx workflow.Context, state activities.DriftState) error {
	if state.Components == nil {
		state.Components = map[string]activities.DriftComponent{}
	}
	if state.Reports == nil {
		state.Reports = map[string]activities.DriftReport{}
	}
	if err := workflow.SetQueryHandler(ctx, QueryDriftState, func() (activities.DriftState, error) { return state, nil }); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandler(ctx, UpdateDriftMerge, func(ctx workflow.Context, d activities.DriftDiscovery) ([]activities.DriftComponent, error) {
		state.Merge(d)
		return state.Active(), nil
	}); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandler(ctx, UpdateDriftRecord, func(ctx workflow.Context, r activities.DriftRecord) error {
		state.Record(r)
		return nil
	}); err != nil {
		return err
	}
	if err := workflow.Await(ctx, func() bool {
		info := workflow.GetInfo(ctx)
		return info.GetContinueAsNewSuggested() || info.GetCurrentHistoryLength() > driftRegistryEvents
	}); err != nil {
		return err
	}
	// Let the updates accepted so far finish before the state moves to the next run.
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	return workflow.NewContinueAsNewError(ctx, DriftRegistryName, state)
}
