package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// conflictError is a mutating request refused because another operation runs on the component.
type conflictError struct {
	operation string
	token     string
}

func (e *conflictError) Error() string {
	return fmt.Sprintf("a %s of this component is running (token %s)", e.operation, e.token)
}

func (s *Server) startOptions(id string, op workflows.Operation, d *descriptor.Descriptor, hash string) client.StartWorkflowOptions {
	return s.runOptions(id, op, hash, fmt.Sprintf("%s %s (%s)", op, d.Component.Specific.JobName, d.ComponentID),
		runOf{componentID: d.ComponentID, dataProductID: d.DataProduct.ID, environment: d.DataProduct.Environment})
}

// runOf is what the search attributes of a run say it is about.
type runOf struct{ componentID, dataProductID, environment string }

// runOptions are the start options every run gets: its id and bound, the memo that tells an
// identical request from another one, a summary for the Temporal UI, and the search attributes
// (those it knows) that list it there by component, data product and environment.
func (s *Server) runOptions(id string, op workflows.Operation, hash, summary string, of runOf) client.StartWorkflowOptions {
	opts := client.StartWorkflowOptions{
		ID:                       id,
		TaskQueue:                s.cfg.TaskQueue,
		WorkflowExecutionTimeout: s.runTimeout(op),
		Memo:                     map[string]any{workflows.MemoOperation: string(op), workflows.MemoRequestHash: hash},
		StaticSummary:            summary,
	}
	if s.cfg.SearchAttributes {
		attrs := []temporal.SearchAttributeUpdate{workflows.SAComponentID.ValueSet(of.componentID)}
		if of.dataProductID != "" {
			attrs = append(attrs, workflows.SADataProductID.ValueSet(of.dataProductID))
		}
		attrs = append(attrs, workflows.SAEnvironment.ValueSet(of.environment), workflows.SAOperation.ValueSet(string(op)))
		opts.TypedSearchAttributes = temporal.NewSearchAttributes(attrs...)
	}
	return opts
}

// runTimeout is the bound of a run of op.
func (s *Server) runTimeout(op workflows.Operation) time.Duration {
	if op == workflows.OpValidate {
		return s.cfg.ValidateRunTimeout
	}
	return s.cfg.RunTimeout
}

// startValidation starts a validation, or attaches to the identical one already running.
func (s *Server) startValidation(ctx context.Context, d *descriptor.Descriptor, problems descriptor.Problems, hash string) (client.WorkflowRun, error) {
	opts := s.startOptions(workflows.ValidateWorkflowID(d.DataProduct.Environment, d.ComponentID, hash), workflows.OpValidate, d, hash)
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	return s.temporal.ExecuteWorkflow(ctx, opts, workflows.ValidateName, workflows.Input{Descriptor: *d, Problems: problems})
}

// startMutation starts a provision or unprovision under the component's workflow id. A request
// identical to the one running attaches to it; one identical to a run that completed within the
// dedupe window gets that run; another operation running on the component is a conflict.
func (s *Server) startMutation(ctx context.Context, op workflows.Operation, d *descriptor.Descriptor, in workflows.Input, hash string) (client.WorkflowRun, error) {
	id := workflows.ComponentWorkflowID(d.DataProduct.Environment, d.ComponentID)
	if s.cfg.DedupeWindow > 0 {
		if desc, err := s.temporal.DescribeWorkflow(ctx, id, ""); err == nil &&
			desc.Status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED && sameRequest(desc, op, hash) &&
			desc.WorkflowCloseTime != nil && time.Since(*desc.WorkflowCloseTime) < s.cfg.DedupeWindow {
			return s.temporal.GetWorkflow(ctx, id, desc.WorkflowExecution.RunID), nil
		}
	}
	opts := s.startOptions(id, op, d, hash)
	opts.WorkflowExecutionErrorWhenAlreadyStarted = true
	run, err := s.temporal.ExecuteWorkflow(ctx, opts, op.WorkflowName(), in)
	if err == nil {
		return run, nil
	}
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if !errors.As(err, &started) {
		return nil, err
	}
	desc, derr := s.temporal.DescribeWorkflow(ctx, id, started.RunId)
	if derr != nil {
		return nil, derr
	}
	if sameRequest(desc, op, hash) {
		return s.temporal.GetWorkflow(ctx, id, started.RunId), nil
	}
	var running string
	_ = desc.GetMemoValue(workflows.MemoOperation, &running)
	return nil, &conflictError{operation: orDefault(running, "another operation"), token: EncodeToken(id, started.RunId)}
}

func sameRequest(desc *client.WorkflowExecutionDescription, op workflows.Operation, hash string) bool {
	var gotOp, gotHash string
	_ = desc.GetMemoValue(workflows.MemoOperation, &gotOp)
	_ = desc.GetMemoValue(workflows.MemoRequestHash, &gotHash)
	return gotOp == string(op) && gotHash == hash
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// outcome is how waiting for a run ended.
type outcome int

const (
	done    outcome = iota // the run closed; result or err is set
	pending                // still running after the synchronous wait (or the API is draining)
	gone                   // the client went away
)

// wait waits up to the synchronous timeout for the run. The run goes on whatever happens here.
func (s *Server) wait(r *http.Request, run client.WorkflowRun) (workflows.Result, outcome, error) {
	var res workflows.Result
	out, err := s.waitInto(r, run, &res)
	return res, out, err
}

// waitInto is wait for a run whose result is not a workflows.Result: it decodes it into res.
func (s *Server) waitInto(r *http.Request, run client.WorkflowRun, res any) (outcome, error) {
	deadline := time.Now().Add(s.cfg.SyncTimeout)
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	go func() {
		select {
		case <-s.draining:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := run.Get(ctx, res)
	var runErr *temporal.WorkflowExecutionError
	switch {
	case err == nil:
		return done, nil
	case r.Context().Err() != nil:
		return gone, err
	case errors.As(err, &runErr):
		return done, err // the run itself ended, failed
	case ctx.Err() != nil || isDeadline(err) && time.Until(deadline) < time.Second:
		// Our wait is over (or the API is draining). Get reports its own RPC deadline, which can
		// fire a moment before the context's timer: both mean "still running".
		return pending, err
	}
	return done, err
}

// isDeadline reports a deadline error as gRPC, Temporal or the context phrase it.
func isDeadline(err error) bool {
	var de *serviceerror.DeadlineExceeded
	return errors.As(err, &de) || errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded
}

// failureAnswer maps a failed run to the fields of an error answer.
type failureAnswer struct {
	status   int
	problems descriptor.Problems
	message  string
	logs     []workflows.Log
}

// classifyFailure turns the error of a failed run into an answer: a refused descriptor is a
// 400 with every problem; anything else a 500 with the workflow's message.
func classifyFailure(err error) failureAnswer {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		var f workflows.Failure
		_ = appErr.Details(&f)
		if appErr.Type() == workflows.ErrTypeInvalid && len(f.Problems) > 0 {
			return failureAnswer{status: http.StatusBadRequest, problems: f.Problems, message: appErr.Message(), logs: f.Logs}
		}
		return failureAnswer{status: http.StatusInternalServerError, message: appErr.Message(), logs: f.Logs}
	}
	switch {
	case temporal.IsTerminatedError(err):
		return failureAnswer{status: http.StatusInternalServerError, message: "the run was terminated by an operator"}
	case temporal.IsCanceledError(err):
		return failureAnswer{status: http.StatusInternalServerError, message: "the run was canceled"}
	case temporal.IsTimeoutError(err):
		return failureAnswer{status: http.StatusInternalServerError, message: "the run timed out"}
	}
	return failureAnswer{status: http.StatusInternalServerError, message: err.Error()}
}

// failure is classifyFailure with the reason of a run that hit its bound: no worker ever took it
// (workers down, another task queue or namespace) or it did not finish in time. Either way the
// component's lock is released: it can be provisioned again.
func (s *Server) failure(ctx context.Context, err error, id, runID string) failureAnswer {
	f := classifyFailure(err)
	if !temporal.IsTimeoutError(err) {
		return f
	}
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return f // an activity's timeout, reported by the workflow itself
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	bound := "its bound"
	if desc, derr := s.temporal.DescribeWorkflow(ctx, id, runID); derr == nil {
		if t := desc.RawResponse.GetExecutionConfig().GetWorkflowExecutionTimeout(); t != nil {
			bound = t.AsDuration().String()
		}
	}
	picked, herr := s.pickedUp(ctx, id, runID)
	switch {
	case herr != nil:
		f.message = fmt.Sprintf("the run did not finish within %s and was ended (RUN_TIMEOUT)", bound)
	case !picked:
		f.message = fmt.Sprintf("no worker picked up the run within %s (RUN_TIMEOUT), so it was ended: no worker polls task queue %s. "+
			"Check that the workers run with TEMPORAL_TASK_QUEUE=%s and the API's namespace (GET /health reports the pollers), then send the request again",
			bound, s.cfg.TaskQueue, s.cfg.TaskQueue)
	default:
		f.message = fmt.Sprintf("the run did not finish within %s (RUN_TIMEOUT) and was ended; its history in the Temporal UI shows the step it was at. The request can be sent again", bound)
	}
	return f
}

// pickedUp reports whether a worker ever started a workflow task of the run: the first events
// of its history say so.
func (s *Server) pickedUp(ctx context.Context, id, runID string) (bool, error) {
	it := s.temporal.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return false, err
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_STARTED:
			return true, nil
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
			return false, nil
		}
	}
	return false, nil
}

// progress is where a running run stands: a worker answers the progress query from the run's
// state; runs of the first release kept their step in the memo instead. A worker cannot answer
// while its workflow task runs the checks (local activities); without any worker yet, it says so.
func (s *Server) progress(ctx context.Context, id, runID string) workflows.Progress {
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	var p workflows.Progress
	if v, err := s.temporal.QueryWorkflow(qctx, id, runID, workflows.QueryProgress); err == nil && v.Get(&p) == nil && p.Step != "" {
		return p
	}
	if desc, err := s.temporal.DescribeWorkflow(ctx, id, runID); err == nil {
		_ = desc.GetMemoValue(workflows.MemoStep, &p.Step)
	}
	if p.Step == "" {
		if picked, err := s.pickedUp(ctx, id, runID); err == nil && picked {
			// A worker has it, busy in a step that holds its workflow task (the checks).
			p.Step = "a worker is on it; its current step could not be read within 3 s"
		} else {
			p.Step = "waiting for a worker (none answered; GET /health reports whether any polls the task queue)"
		}
	}
	return p
}

// temporalError answers when Temporal cannot be reached or refused the call.
func (s *Server) temporalError(w http.ResponseWriter, r *http.Request, what string, err error) {
	s.log.ErrorContext(r.Context(), what, "error", err)
	status := http.StatusInternalServerError
	var unavailable *serviceerror.Unavailable
	if errors.As(err, &unavailable) || errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, systemError(what+": "+err.Error(), "The provisioner cannot reach its workflow engine right now."))
}
