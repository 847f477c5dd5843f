package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"gopkg.in/yaml.v3"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// ReverseProvisioningRequest is the body of POST /v1/reverse-provisioning (Tech Adapter API
// 2.2.0). Params are this provisioner's: cdeService, cdeCluster, jobName, artifactsPrefix.
type ReverseProvisioningRequest struct {
	UseCaseTemplateID string         `json:"useCaseTemplateId"`
	Environment       string         `json:"environment"`
	Params            map[string]any `json:"params"`
	// CatalogInfo is the component's current catalog-info.yaml: an object, or its YAML text.
	CatalogInfo any `json:"catalogInfo"`
}

// ReverseProvisioningStatus is the answer of reverse provisioning and of its status endpoint.
// A FAILED status also carries the error fields, as ProvisioningStatus does.
type ReverseProvisioningStatus struct {
	Status  string         `json:"status"`
	Updates map[string]any `json:"updates"`
	Logs    []Log          `json:"logs,omitempty"`

	UserMessage string    `json:"userMessage,omitempty"`
	MoreInfo    *MoreInfo `json:"moreInfo,omitempty"`
}

// reverseParams are the params every import needs, in the order problems name them.
var reverseParams = []string{"cdeService", "cdeCluster", "jobName", "artifactsPrefix"}

// checkReverse turns a request into the workflow's input, or the problems of its fields.
func checkReverse(req ReverseProvisioningRequest) (workflows.ReverseInput, descriptor.Problems) {
	var ps descriptor.Problems
	params := map[string]string{}
	for _, name := range reverseParams {
		v, ok := req.Params[name].(string)
		if !ok || strings.TrimSpace(v) == "" {
			ps = append(ps, descriptor.Problem{Field: workflows.ReverseParamField(name),
				Message:  fmt.Sprintf("params.%s is missing, empty or not a string", name),
				Solution: "Send params with cdeService, cdeCluster, jobName (the CDE job to import) and artifactsPrefix (s3://bucket/prefix/ to copy its files to)."})
			continue
		}
		params[name] = strings.TrimSpace(v)
	}
	if p, ok := params["artifactsPrefix"]; ok {
		if !strings.HasPrefix(p, "s3://") || len(strings.TrimPrefix(p, "s3://")) == 0 || strings.HasPrefix(strings.TrimPrefix(p, "s3://"), "/") {
			ps = append(ps, descriptor.Problem{Field: workflows.ReverseParamField("artifactsPrefix"),
				Message:  fmt.Sprintf("params.artifactsPrefix %q is not an s3://bucket/prefix/ location", p),
				Solution: "Give the S3 folder the job's files are copied to, e.g. s3://artifacts/finance/cashflow/imported/."})
		}
	}
	env := strings.TrimSpace(req.Environment)
	if env == "" {
		ps = append(ps, descriptor.Problem{Field: "environment", Message: "environment is missing or empty",
			Solution: "Send the environment the component is imported in, as the Coordinator does."})
	}
	componentID, problem := catalogComponentID(req.CatalogInfo)
	if problem != nil {
		ps = append(ps, *problem)
	}
	if len(ps) > 0 {
		return workflows.ReverseInput{}, ps
	}
	in := workflows.ReverseInput{
		Service: params["cdeService"], Cluster: params["cdeCluster"], JobName: params["jobName"], Prefix: params["artifactsPrefix"],
		ComponentID: componentID, Environment: env, Scope: artifacts.Scope{Environment: env},
	}
	// The allowlist's {domain} and {dataProduct} (S3_ALLOWED_PREFIXES), from a component id of
	// the template's shape: urn:dmb:cmp:<domain>:<data product>:<major>:<name>.
	if parts := strings.Split(strings.TrimPrefix(componentID, descriptor.ComponentIDPrefix), ":"); len(parts) == 4 {
		in.Scope.Domain, in.Scope.DataProduct = parts[0], parts[1]
	}
	return in, nil
}

// catalogComponentID is the component id in catalog-info (spec.mesh.id).
func catalogComponentID(info any) (string, *descriptor.Problem) {
	refuse := func(msg string) (string, *descriptor.Problem) {
		return "", &descriptor.Problem{Field: "catalogInfo", Message: msg,
			Solution: "Send the component's catalog-info, whose spec.mesh.id is the component id (urn:dmb:cmp:...), as Witboost does."}
	}
	if text, ok := info.(string); ok {
		var doc map[string]any
		if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
			return refuse("catalogInfo is not a catalog-info document: " + err.Error())
		}
		info = doc
	}
	var id any = info
	for _, key := range []string{"spec", "mesh", "id"} {
		m, ok := id.(map[string]any)
		if !ok {
			return refuse("catalogInfo has no spec.mesh.id")
		}
		id = m[key]
	}
	s, ok := id.(string)
	if !ok || s == "" {
		return refuse("catalogInfo has no spec.mesh.id")
	}
	if _, err := descriptor.ParseComponentID(s); err != nil {
		return refuse("catalogInfo's spec.mesh.id: " + err.Error())
	}
	return s, nil
}

// reverseHash identifies a request: an identical one attaches to the same run.
func reverseHash(in workflows.ReverseInput) string {
	raw, _ := json.Marshal(in)
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])
}

// reverseProvision is POST /v1/reverse-provisioning: 200 with the status when the import ends
// within the synchronous wait, else 202 with a token.
func (s *Server) reverseProvision(w http.ResponseWriter, r *http.Request) {
	var req ReverseProvisioningRequest
	if !decodeBody(w, r, &req, bodyKind{
		name:     "ReverseProvisioningRequest",
		shape:    "Send a JSON object with useCaseTemplateId, environment, params and catalogInfo.",
		tooLarge: "Send one component's catalog-info.",
		invalid:  func(ps descriptor.Problems) any { return invalidReverse(ps) },
	}) {
		return
	}
	in, problems := checkReverse(req)
	if len(problems) > 0 {
		writeJSON(w, http.StatusBadRequest, invalidReverse(problems))
		return
	}
	hash := reverseHash(in)
	id := workflows.ReverseWorkflowID(in.Environment, in.ComponentID, hash)
	if len(id) > workflows.MaxWorkflowIDLength {
		writeJSON(w, http.StatusBadRequest, invalidReverse(descriptor.Problems{{Field: "catalogInfo",
			Message:  fmt.Sprintf("The component id and the environment are too long for this provisioner's workflow ids: %d bytes, at most %d", len(id), workflows.MaxWorkflowIDLength),
			Solution: "Give the component a shorter id."}}))
		return
	}
	opts := s.runOptions(id, workflows.OpReverse, hash, fmt.Sprintf("%s of job %s (%s)", workflows.OpReverse, in.JobName, in.ComponentID),
		runOf{componentID: in.ComponentID, environment: in.Environment})
	opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
	run, err := s.temporal.ExecuteWorkflow(r.Context(), opts, workflows.ReverseProvisionName, in)
	if err != nil {
		s.temporalError(w, r, "starting the reverse provisioning failed", err)
		return
	}
	var res workflows.ReverseResult
	out, err := s.waitInto(r, run, &res)
	switch {
	case out == gone:
	case out == pending:
		writeToken(w, EncodeToken(run.GetID(), run.GetRunID()))
	case err != nil:
		writeJSON(w, http.StatusOK, reverseFailed(s.failure(r.Context(), err, run.GetID(), run.GetRunID())))
	default:
		writeJSON(w, http.StatusOK, reverseCompleted(res))
	}
}

// reverseStatus is GET /v1/reverse-provisioning/{token}/status.
func (s *Server) reverseStatus(w http.ResponseWriter, r *http.Request) {
	run, ok := s.lookupToken(w, r, workflows.OpReverse)
	if !ok {
		return
	}
	switch run.status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW:
		p := s.progress(r.Context(), run.id, run.runID)
		writeJSON(w, http.StatusOK, ReverseProvisioningStatus{Status: StatusRunning, Updates: map[string]any{}, Logs: logs(p.Logs)})
		return
	}
	var res workflows.ReverseResult
	err := s.temporal.GetWorkflow(r.Context(), run.id, run.runID).Get(r.Context(), &res)
	var unavailable *serviceerror.Unavailable
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, reverseCompleted(res))
	case errors.As(err, &unavailable):
		s.temporalError(w, r, "reading the run's result failed", err)
	default:
		writeJSON(w, http.StatusOK, reverseFailed(s.failure(r.Context(), err, run.id, run.runID)))
	}
}

func reverseCompleted(res workflows.ReverseResult) ReverseProvisioningStatus {
	updates := res.Updates
	if updates == nil {
		updates = map[string]any{}
	}
	return ReverseProvisioningStatus{Status: StatusCompleted, Updates: updates, Logs: logs(res.Logs)}
}

// reverseFailed is the FAILED status of an import that was refused or failed: its cause in
// userMessage and moreInfo, its steps in logs.
func reverseFailed(f failureAnswer) ReverseProvisioningStatus {
	st := ReverseProvisioningStatus{Status: StatusFailed, Updates: map[string]any{}, Logs: logs(f.logs)}
	if len(f.problems) > 0 {
		st.UserMessage, st.MoreInfo = userMessage("The job cannot be imported", f.problems), moreInfo(f.problems)
		return st
	}
	body := systemError(f.message, "The job cannot be imported: "+f.message)
	st.UserMessage, st.MoreInfo = body.UserMessage, body.MoreInfo
	return st
}

// invalidReverse is the 400 of a reverse-provisioning request with bad params.
func invalidReverse(ps descriptor.Problems) RequestValidationError {
	body := invalidRequest(ps)
	body.UserMessage = userMessage("The reverse-provisioning request is not valid", ps)
	return body
}
