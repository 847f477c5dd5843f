package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// a is the typed nil receiver through which workflows name activities: the compiler checks
// their signatures, and no instance with clients exists in workflow code.
var a *activities.Activities

// Activity options by kind of step. Timeouts bound one attempt; ScheduleToClose bounds the
// retries of transient failures, after which the run fails with the last error.
var (
	// Control-plane reads: quick, retried for a few minutes through CDP hiccups.
	cdpOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    30 * time.Second,
		ScheduleToCloseTimeout: 5 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
	}
	// S3 checks: many objects per call.
	s3Options = workflow.ActivityOptions{
		StartToCloseTimeout:    2 * time.Minute,
		ScheduleToCloseTimeout: 10 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 30 * time.Second},
	}
	// Jobs API writes.
	cdeOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    time.Minute,
		ScheduleToCloseTimeout: 10 * time.Minute,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 2 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	}
	// Uploads: heartbeats show progress and carry the files done, so a crashed worker is noticed
	// within the heartbeat timeout and the next attempt resumes with the next file.
	uploadOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    time.Hour,
		HeartbeatTimeout:       30 * time.Second,
		ScheduleToCloseTimeout: 3 * time.Hour,
		RetryPolicy:            &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: 2 * time.Minute},
	}
)

// run is the state of one workflow execution: the input and the steps taken so far, which
// become the logs of the answer (and the "step" memo the status endpoint shows while running).
type run struct {
	ctx    workflow.Context
	op     Operation
	in     Input
	logs   []Log
	logger log.Logger
}

func newRun(ctx workflow.Context, op Operation, in Input) *run {
	// The SDK's logger carries the workflow and run ids, the worker's interceptor the component id.
	logger := log.With(workflow.GetLogger(ctx), "operation", string(op))
	return &run{ctx: ctx, op: op, in: in, logger: logger}
}

// step records a step: a log entry with the workflow's deterministic clock, and the memo the
// status endpoint reads while the run is going (readable without a worker).
func (r *run) step(phase, msg string) {
	r.logs = append(r.logs, Log{Timestamp: workflow.Now(r.ctx).UTC(), Level: "INFO", Message: msg, Phase: phase})
	r.logger.Info(msg, "phase", phase)
	if err := workflow.UpsertMemo(r.ctx, map[string]any{MemoStep: msg}); err != nil {
		r.logger.Warn("cannot record the step in the memo", "error", err)
	}
}

func (r *run) note(level, phase, msg string) {
	r.logs = append(r.logs, Log{Timestamp: workflow.Now(r.ctx).UTC(), Level: level, Message: msg, Phase: phase})
	if level == "ERROR" || level == "WARNING" {
		r.logger.Warn(msg, "phase", phase)
	} else {
		r.logger.Info(msg, "phase", phase)
	}
}

func (r *run) with(opts workflow.ActivityOptions) workflow.Context {
	return workflow.WithActivityOptions(r.ctx, opts)
}

// invalid ends the run as refused: every problem, and the steps taken, go to the API.
func (r *run) invalid(problems descriptor.Problems) error {
	r.note("ERROR", "validation", fmt.Sprintf("%s refused: %s", r.op, strings.Join(problems.Messages(), "; ")))
	return temporal.NewNonRetryableApplicationError(
		fmt.Sprintf("%s refused: the descriptor did not pass validation (%d problems)", r.op, len(problems)),
		ErrTypeInvalid, nil, Failure{Problems: problems, Logs: r.logs})
}

// failed ends the run after a step failed for good (or its retries ran out), with a message
// that names the step and the cause.
func (r *run) failed(phase, what string, err error) error {
	msg := fmt.Sprintf("%s: %s", what, causeMessage(err))
	r.note("ERROR", phase, msg)
	return temporal.NewNonRetryableApplicationError(msg, ErrTypeFailed, err, Failure{Logs: r.logs})
}

// causeMessage is the message of the innermost application error (what the activity said),
// with the retry outcome when retries ran out, without the SDK's wrapping noise.
func causeMessage(err error) string {
	msg := err.Error()
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		msg = appErr.Error()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		if appErr != nil {
			return "gave up after retrying; last error: " + msg
		}
		return "timed out (" + timeoutErr.TimeoutType().String() + ")"
	}
	return msg
}

func (r *run) resolveInput() activities.ResolveInput {
	d := r.in.Descriptor
	return activities.ResolveInput{
		Service:      d.Component.Specific.CDEService,
		Cluster:      d.Component.Specific.CDECluster,
		ServiceField: d.Path(descriptor.FieldCDEService),
		ClusterField: d.Path(descriptor.FieldCDECluster),
	}
}

// checks runs the CDP and S3 checks side by side and returns every problem they find.
func (r *run) checks() (activities.Resolution, activities.ArtifactsCheck, error) {
	resolveF := workflow.ExecuteActivity(r.with(cdpOptions), a.ResolveTarget, r.resolveInput())
	artifactsF := workflow.ExecuteActivity(r.with(s3Options), a.CheckArtifacts, r.in.Descriptor.Artifacts())
	var res activities.Resolution
	var art activities.ArtifactsCheck
	if err := resolveF.Get(r.ctx, &res); err != nil {
		return res, art, r.failed("validation", "checking the CDE service and virtual cluster failed", err)
	}
	if err := artifactsF.Get(r.ctx, &art); err != nil {
		return res, art, r.failed("validation", "checking the artifacts on S3 failed", err)
	}
	return res, art, nil
}
