package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// driftCheckTimeout bounds one drift check run; a check that outlasts it is ended, and the next
// starts at its time (the Schedule skips a check while the previous one runs).
const driftCheckTimeout = time.Hour

// EnsureDriftSchedule makes the deployment's drift-detection Schedule match the configuration:
// created or updated with DRIFT_CHECK_INTERVAL and DRIFT_REPAIR, or deleted when the interval is
// 0. Every worker does it at start, idempotently; its id holds the task queue, so deployments that
// share a namespace each keep their own.
func EnsureDriftSchedule(ctx context.Context, c client.Client, taskQueue string, interval time.Duration, repair bool, logger *slog.Logger) error {
	id := workflows.DriftScheduleID(taskQueue)
	schedules := c.ScheduleClient()
	if interval <= 0 {
		err := schedules.GetHandle(ctx, id).Delete(ctx)
		var notFound *serviceerror.NotFound
		if err != nil && !errors.As(err, &notFound) {
			return fmt.Errorf("delete the drift schedule %s: %w", id, err)
		}
		logger.Info("drift detection is off (DRIFT_CHECK_INTERVAL=0)")
		return nil
	}
	spec := client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: interval}}}
	action := &client.ScheduleWorkflowAction{
		ID:                       workflows.DriftCheckWorkflowID(taskQueue),
		Workflow:                 workflows.DriftCheckName,
		Args:                     []any{workflows.DriftCheckInput{TaskQueue: taskQueue, Repair: repair}},
		TaskQueue:                taskQueue,
		WorkflowExecutionTimeout: driftCheckTimeout,
	}
	_, err := schedules.Create(ctx, client.ScheduleOptions{
		ID: id, Spec: spec, Action: action, Overlap: enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		Note: "drift detection of the CDE Spark provisioner on task queue " + taskQueue,
	})
	if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		err = schedules.GetHandle(ctx, id).Update(ctx, client.ScheduleUpdateOptions{
			DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
				s := in.Description.Schedule
				s.Spec, s.Action = &spec, action
				if s.Policy == nil {
					s.Policy = &client.SchedulePolicies{}
				}
				s.Policy.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
				return &client.ScheduleUpdate{Schedule: &s}, nil
			},
		})
	}
	if err != nil {
		return fmt.Errorf("create or update the drift schedule %s: %w", id, err)
	}
	logger.Info("drift detection scheduled", "schedule", id, "every", interval.String(), "repair", repair)
	return nil
}

// driftRetentionWarning warns when checks are too far apart for the namespace's retention: a
// check learns of the provisions closed since the previous one from visibility, which forgets
// closed runs after the retention, so a provision can be missed. Nothing when the namespace
// cannot be described (the check itself says nothing wrong about the settings).
func driftRetentionWarning(ctx context.Context, c client.Client, namespace string, interval time.Duration) string {
	if interval <= 0 {
		return ""
	}
	ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	if err != nil {
		return ""
	}
	return retentionWarning(interval, ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration())
}

// retentionWarning is driftRetentionWarning's rule: an interval longer than half the retention
// leaves too little room for a check that fails or a worker that is down for a while.
func retentionWarning(interval, retention time.Duration) string {
	if retention <= 0 || interval <= retention/2 {
		return ""
	}
	return fmt.Sprintf("DRIFT_CHECK_INTERVAL=%s is more than half the namespace's history retention (%s): "+
		"a provision whose run is forgotten before the next check is not checked for drift until it is provisioned again; "+
		"shorten the interval", interval, retention)
}
