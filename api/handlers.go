package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// validateSync is POST /v1/validate: always a ValidationResult, undecodable descriptors included.
func (s *Server) validateSync(w http.ResponseWriter, r *http.Request) {
	req, ok := s.decodeRequest(w, r)
	if !ok {
		return
	}
	var d *descriptor.Descriptor
	var problems descriptor.Problems
	if !s.decode(w, r, func() { d, problems = req.Check() }) {
		return
	}
	if d == nil {
		writeJSON(w, http.StatusOK, validationResult(problems))
		return
	}
	if ps := workflowIDProblems(d); ps != nil {
		writeJSON(w, http.StatusOK, validationResult(append(problems, ps...)))
		return
	}
	run, err := s.startValidation(r.Context(), d, problems, requestHash(workflows.OpValidate, req))
	if err != nil {
		s.temporalError(w, r, "starting the validation failed", err)
		return
	}
	res, out, err := s.wait(r, run)
	switch {
	case out == gone:
		return
	case out == pending:
		writeJSON(w, http.StatusServiceUnavailable, systemError("the validation did not finish within "+s.cfg.SyncTimeout.String(),
			"The validation is taking longer than usual; it goes on in the background.",
			"Retry the same request: it attaches to the running validation. Or use POST /v2/validate and poll its status."))
	case err != nil:
		f := s.failure(r.Context(), err, run.GetID(), run.GetRunID())
		writeJSON(w, http.StatusInternalServerError, systemError("the validation failed: "+f.message,
			"The validation could not check the CDE service or the artifacts."))
	default:
		writeJSON(w, http.StatusOK, validationResult(res.Problems))
	}
}

// validateAsync is POST /v2/validate: 202 with a token at once.
func (s *Server) validateAsync(w http.ResponseWriter, r *http.Request) {
	req, ok := s.decodeRequest(w, r)
	if !ok {
		return
	}
	var d *descriptor.Descriptor
	var problems descriptor.Problems
	if !s.decode(w, r, func() { d, problems = req.Check() }) {
		return
	}
	if d == nil {
		writeJSON(w, http.StatusBadRequest, invalidRequest(problems))
		return
	}
	if ps := workflowIDProblems(d); ps != nil {
		writeJSON(w, http.StatusBadRequest, invalidRequest(append(problems, ps...)))
		return
	}
	run, err := s.startValidation(r.Context(), d, problems, requestHash(workflows.OpValidate, req))
	if err != nil {
		s.temporalError(w, r, "starting the validation failed", err)
		return
	}
	writeToken(w, EncodeToken(run.GetID(), run.GetRunID()))
}

// validateStatus is GET /v2/validate/{token}/status.
func (s *Server) validateStatus(w http.ResponseWriter, r *http.Request) {
	run, ok := s.lookupToken(w, r, workflows.OpValidate)
	if !ok {
		return
	}
	switch run.status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		writeJSON(w, http.StatusOK, ValidationStatus{Status: StatusRunning})
		return
	}
	var res workflows.Result
	if err := s.temporal.GetWorkflow(r.Context(), run.id, run.runID).Get(r.Context(), &res); err != nil {
		writeJSON(w, http.StatusOK, ValidationStatus{Status: StatusFailed})
		return
	}
	writeJSON(w, http.StatusOK, ValidationStatus{Status: StatusCompleted, Info: &ValidationInfo{PublicInfo: validationResult(res.Problems)}})
}

// mutate serves POST /v1/provision and /v1/unprovision.
func (s *Server) mutate(op workflows.Operation) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, ok := s.decodeRequest(w, r)
		if !ok {
			return
		}
		var d *descriptor.Descriptor
		var problems descriptor.Problems
		if !s.decode(w, r, func() {
			if op == workflows.OpUnprovision {
				d, problems = req.CheckUnprovision()
			} else {
				d, problems = req.Check()
			}
		}) {
			return
		}
		if d != nil {
			problems = append(problems, workflowIDProblems(d)...)
		}
		if len(problems) > 0 {
			writeJSON(w, http.StatusBadRequest, invalidRequest(problems))
			return
		}
		in := workflows.Input{Descriptor: *d, RemoveData: req.RemoveData}
		run, err := s.startMutation(r.Context(), op, d, in, requestHash(op, req))
		var conflict *conflictError
		switch {
		case errors.As(err, &conflict):
			writeJSON(w, http.StatusConflict, systemError(
				"another operation is running on component "+d.ComponentID+": "+conflict.operation+", token "+conflict.token,
				"A "+conflict.operation+" of this component is still running.",
				"Wait for it to finish (GET /v1/provision/"+conflict.token+"/status), then retry."))
			return
		case err != nil:
			s.temporalError(w, r, "starting the "+string(op)+" failed", err)
			return
		}
		token := EncodeToken(run.GetID(), run.GetRunID())
		res, out, err := s.wait(r, run)
		switch {
		case out == gone:
			return
		case out == pending:
			writeToken(w, token)
		case err != nil:
			f := s.failure(r.Context(), err, run.GetID(), run.GetRunID())
			if f.status == http.StatusBadRequest {
				writeJSON(w, http.StatusBadRequest, invalidRequest(f.problems))
				return
			}
			writeJSON(w, f.status, systemError(f.message, "The "+string(op)+" of the Spark job failed."))
		default:
			writeJSON(w, http.StatusOK, completedStatus(res))
		}
	}
}

// provisionStatus is GET /v1/provision/{token}/status, for tokens of provisions and unprovisions.
func (s *Server) provisionStatus(w http.ResponseWriter, r *http.Request) {
	run, ok := s.lookupToken(w, r, workflows.OpProvision, workflows.OpUnprovision)
	if !ok {
		return
	}
	switch run.status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		p := s.progress(r.Context(), run.id, run.runID)
		writeJSON(w, http.StatusOK, ProvisioningStatus{Status: StatusRunning, Result: "The " + string(run.op) + " is running: " + p.Step, Logs: logs(p.Logs)})
		return
	}
	var res workflows.Result
	err := s.temporal.GetWorkflow(r.Context(), run.id, run.runID).Get(r.Context(), &res)
	if err == nil {
		writeJSON(w, http.StatusOK, completedStatus(res))
		return
	}
	var unavailable *serviceerror.Unavailable
	if errors.As(err, &unavailable) {
		s.temporalError(w, r, "reading the run's result failed", err)
		return
	}
	writeJSON(w, http.StatusOK, failedStatus(run.op, s.failure(r.Context(), err, run.id, run.runID)))
}

// lookupToken decodes the path's token and finds its run, which must be one of ops. It answers
// itself (400 for anything that is not a token of a known run of these operations).
// tokenRun is the run a status token designates.
type tokenRun struct {
	id, runID string
	op        workflows.Operation
	status    enumspb.WorkflowExecutionStatus
}

func (s *Server) lookupToken(w http.ResponseWriter, r *http.Request, ops ...workflows.Operation) (tokenRun, bool) {
	token := chi.URLParam(r, "token")
	refuse := func(msg string) {
		ps := descriptor.Problems{{Field: "token", Message: msg,
			Solution: "Use the token returned by the 202 answer of the same kind of request."}}
		writeJSON(w, http.StatusBadRequest, invalidRequest(ps))
	}
	id, runID, err := DecodeToken(token)
	if err != nil {
		refuse("The token is not one this provisioner issued")
		return tokenRun{}, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	desc, err := s.temporal.DescribeWorkflow(ctx, id, runID)
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		refuse("No run is known for this token (it may be older than the history retention)")
		return tokenRun{}, false
	case err != nil:
		s.temporalError(w, r, "looking up the token's run failed", err)
		return tokenRun{}, false
	}
	var op string
	_ = desc.GetMemoValue(workflows.MemoOperation, &op)
	for _, want := range ops {
		if workflows.Operation(op) == want && desc.WorkflowType.Name == want.WorkflowName() {
			return tokenRun{id: id, runID: runID, op: want, status: desc.Status}, true
		}
	}
	refuse("The token belongs to a " + orDefault(op, "different") + " run, not to this status endpoint")
	return tokenRun{}, false
}

func completedStatus(res workflows.Result) ProvisioningStatus {
	st := ProvisioningStatus{Status: StatusCompleted, Result: res.Message, Logs: logs(res.Logs)}
	if res.PublicInfo != nil || res.PrivateInfo != nil {
		st.Info = &Info{PublicInfo: PublicInfo(res.PublicInfo), PrivateInfo: res.PrivateInfo}
		if st.Info.PrivateInfo == nil {
			st.Info.PrivateInfo = map[string]string{}
		}
	} else {
		st.Info = &Info{PublicInfo: PublicInfo{}, PrivateInfo: map[string]string{}}
	}
	return st
}

func failedStatus(op workflows.Operation, f failureAnswer) ProvisioningStatus {
	st := ProvisioningStatus{Status: StatusFailed, Logs: logs(f.logs)}
	if len(f.problems) > 0 {
		body := invalidRequest(f.problems)
		st.Result, st.UserMessage, st.InputErrorField, st.MoreInfo, st.Errors = body.UserMessage, body.UserMessage, body.InputErrorField, body.MoreInfo, body.Errors
		return st
	}
	body := systemError(f.message, "The "+string(op)+" of the Spark job failed.")
	st.Result, st.UserMessage, st.MoreInfo, st.Errors = f.message, body.UserMessage, body.MoreInfo, []string{f.message}
	return st
}

func logs(in []workflows.Log) []Log {
	out := make([]Log, len(in))
	for i, l := range in {
		out[i] = Log(l)
	}
	return out
}

// workflowIDProblems refuses a component whose workflow ids Temporal could not hold
// (workflows.MaxWorkflowIDLength): a clear 400 rather than a failed start.
func workflowIDProblems(d *descriptor.Descriptor) descriptor.Problems {
	// The validation's id is the longer of the two: it ends with a request hash.
	id := workflows.ValidateWorkflowID(d.DataProduct.Environment, d.ComponentID, strings.Repeat("0", 16))
	if len(id) <= workflows.MaxWorkflowIDLength {
		return nil
	}
	return descriptor.Problems{{
		Field: "componentIdToProvision",
		Message: fmt.Sprintf("The component id and the environment are too long for this provisioner's workflow ids: %d bytes, at most %d "+
			"(a byte outside printable ASCII counts three)", len(id), workflows.MaxWorkflowIDLength),
		Solution: "Give the component a shorter id.",
	}}
}
