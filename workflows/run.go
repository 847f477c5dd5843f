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
	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// a is the typed nil receiver through which workflows name activities: the compiler checks
// their signatures, and no instance with clients exists in workflow code.
var a *activities.Activities

// Activity options by kind of step. Timeouts bound one attempt; ScheduleToClose bounds the
// retries of transient failures, after which the run fails with the last error.
var (
	// Control-plane reads: quick, retried for a few minutes through CDP hiccups. One attempt
	// makes up to four CDP calls in a row, each bounded by CDE_HTTP_TIMEOUT (30 s by default)
	// and retried by the cde client: its bound leaves room for a slow call and its retries
	// instead of cutting the attempt at the first slow answer. (Timeouts are not part of the
	// commands a replay compares: changing them needs no version.)
	cdpOptions = workflow.ActivityOptions{
		StartToCloseTimeout:    2 * time.Minute,
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

// local is the local-activity form of activity options: the same timeouts and retries.
func local(o workflow.ActivityOptions) workflow.LocalActivityOptions {
	return workflow.LocalActivityOptions{
		ScheduleToCloseTimeout: o.ScheduleToCloseTimeout,
		StartToCloseTimeout:    o.StartToCloseTimeout,
		RetryPolicy:            o.RetryPolicy,
	}
}

// LongestRun is the longest a run of op can legitimately take: the budgets of its steps that run
// one after the other (each activity's ScheduleToClose, the wait for a Python environment), the
// steps that run beside them left out. A bound on runs (the API's RUN_TIMEOUT) must be longer,
// or it would end runs that were still making progress.
func LongestRun(op Operation) time.Duration {
	checks := max(cdpOptions.ScheduleToCloseTimeout, s3Options.ScheduleToCloseTimeout) // side by side
	switch op {
	case OpValidate:
		return checks
	case OpProvision:
		// checks, uploads (the idbroker lookup beside them), the Python environment's wait and
		// its last status read, the job upsert (the manifest beside it).
		return checks + uploadOptions.ScheduleToCloseTimeout + PythonEnvBudget + cdpOptions.ScheduleToCloseTimeout + cdeOptions.ScheduleToCloseTimeout
	case OpUnprovision:
		// the target check, the job, two resources, the confirmation.
		return cdpOptions.ScheduleToCloseTimeout + 4*cdeOptions.ScheduleToCloseTimeout
	}
	return 0
}

// run is the state of one workflow execution: the input, the branches it takes (versions.go)
// and the steps taken so far, which become the logs of the answer and the progress the status
// endpoint reads while it is going.
type run struct {
	ctx    workflow.Context
	op     Operation
	in     Input
	v      versions
	logs   []Log
	logger log.Logger
	// current is the latest step and its phase.
	current, currentPhase string

	// edit rewrites each log entry as it is recorded (nil: kept as is). Production never sets
	// it; the replay tests do, to show that adding, removing or rewording log messages leaves a
	// workflow's commands unchanged.
	edit func(workflow.Context, Log) []Log
}

// newRun starts the state of a run: its versions first (before any other command), then the
// progress query, which is no command: it is answered from this state by a worker.
func newRun(ctx workflow.Context, op Operation, in Input, edit func(workflow.Context, Log) []Log) *run {
	// The SDK's logger carries the workflow and run ids; the worker's log handler adds the component
	// id, which it reads from the workflow id (internal/app/logging.go).
	logger := log.With(workflow.GetLogger(ctx), "operation", string(op))
	r := &run{ctx: ctx, op: op, in: in, logger: logger, edit: edit, v: decideVersions(ctx)}
	if err := workflow.SetQueryHandler(ctx, QueryProgress, r.progress); err != nil {
		r.logger.Warn("cannot serve the progress query", "error", err)
	}
	return r
}

// progress answers the QueryProgress query.
func (r *run) progress() (Progress, error) {
	return Progress{Operation: r.op, Phase: r.currentPhase, Step: r.current, Logs: r.logs}, nil
}

// step records a step: a log entry, the progress the status endpoint shows and the run's current
// details in the Temporal UI. Neither is a command, so steps can be added, removed or reworded
// freely. Runs from before changeProgressQuery upserted a memo instead, one command per step:
// they keep doing so, for their histories to replay.
func (r *run) step(phase, msg string) {
	r.currentPhase, r.current = phase, msg
	r.record("INFO", phase, msg)
	if r.v.stepMemo {
		if err := workflow.UpsertMemo(r.ctx, map[string]any{MemoStep: msg}); err != nil {
			r.logger.Warn("cannot record the step in the memo", "error", err)
		}
		return
	}
	workflow.SetCurrentDetails(r.ctx, "**"+string(r.op)+"** ("+phase+"): "+msg)
}

func (r *run) note(level, phase, msg string) {
	r.record(level, phase, msg)
}

// record appends a log entry (as edited, in tests) and writes it to the worker's log.
func (r *run) record(level, phase, msg string) {
	entries := []Log{{Timestamp: workflow.Now(r.ctx).UTC(), Level: level, Message: msg, Phase: phase}}
	if r.edit != nil {
		entries = r.edit(r.ctx, entries[0])
	}
	for _, l := range entries {
		r.logs = append(r.logs, l)
		if l.Level == "ERROR" || l.Level == "WARNING" {
			r.logger.Warn(l.Message, "phase", l.Phase)
		} else {
			r.logger.Info(l.Message, "phase", l.Phase)
		}
	}
}

// recheckInput applies the descriptor's static rules to the input before anything else: a run
// started directly on Temporal (CLI, UI, another client) must not get past the checks the API
// makes, the job-name convention above all, which keeps a run from touching another
// component's job. It fails the run, as refused, without any call to CDP or CDE. A validation
// reports the problems the API found itself (Input.Problems); only others refuse it.
func (r *run) recheckInput() error {
	if !r.v.recheck {
		return nil
	}
	d := &r.in.Descriptor
	var problems descriptor.Problems
	switch r.op {
	case OpUnprovision:
		problems = descriptor.RecheckUnprovision(d)
	case OpValidate:
		problems = undeclared(descriptor.Recheck(d), r.in.Problems)
	default:
		problems = descriptor.Recheck(d)
	}
	if !r.changed(changeReservedConfRule) {
		problems = without(problems, descriptor.ConfKeyReserved)
	}
	if len(problems) == 0 {
		return nil
	}
	return r.invalid(problems)
}

// without drops the problems of a rule.
func without(ps descriptor.Problems, rule descriptor.Rule) descriptor.Problems {
	var out descriptor.Problems
	for _, p := range ps {
		if !strings.HasPrefix(p.Message, rule.Message) {
			out = append(out, p)
		}
	}
	return out
}

// undeclared returns the problems of found at a field that declared does not mention.
func undeclared(found, declared descriptor.Problems) descriptor.Problems {
	fields := map[string]bool{}
	for _, p := range declared {
		fields[p.Field] = true
	}
	var out descriptor.Problems
	for _, p := range found {
		if !fields[p.Field] {
			out = append(out, p)
		}
	}
	return out
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
		JobName:      d.Component.Specific.JobName,
		ComponentID:  d.ComponentID,
		JobField:     d.Path(descriptor.FieldJobName),
	}
}

// checks runs the CDP and S3 checks side by side and returns every problem they find. They are
// short reads, so they run as local activities: in the worker that runs the workflow task, with
// no activity task of their own to schedule and poll (runs from before changeLocalChecks ran
// them as activities).
func (r *run) checks() (activities.Resolution, activities.ArtifactsCheck, error) {
	var resolveF, artifactsF workflow.Future
	if r.changed(changeLocalChecks) {
		in := r.resolveInput()
		if r.v.lean && r.op == OpProvision {
			// A lean provision has SyncFiles check the job's owner, beside its first requests
			// (SyncInput.OwnerCheck), and the idbroker hosts looked up here.
			in.JobName, in.ComponentID, in.JobField = "", "", ""
			in.IDBrokerHosts = true
		}
		resolveF = workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(r.ctx, local(cdpOptions)), a.ResolveTarget, in)
		if r.v.lean {
			// With the data product, for the allowlist's placeholders (S3_ALLOWED_PREFIXES).
			artifactsF = workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(r.ctx, local(s3Options)), a.CheckArtifactsIn,
				activities.ArtifactsInput{Artifacts: r.in.Descriptor.Artifacts(), Scope: artifacts.ScopeOf(&r.in.Descriptor)})
		} else {
			artifactsF = workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(r.ctx, local(s3Options)), a.CheckArtifacts, r.in.Descriptor.Artifacts())
		}
	} else {
		resolveF = workflow.ExecuteActivity(r.with(cdpOptions), a.ResolveTarget, r.resolveInput())
		artifactsF = workflow.ExecuteActivity(r.with(s3Options), a.CheckArtifacts, r.in.Descriptor.Artifacts())
	}
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
