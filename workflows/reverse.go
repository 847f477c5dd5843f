package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/artifacts"
)

// ReverseProvisionName is the registered name of the reverse-provisioning workflow.
const ReverseProvisionName = "cde.ReverseProvision"

// OpReverse is a reverse provisioning: an existing CDE job imported into a component.
const OpReverse Operation = "reverse-provisioning"

// UpdatesSpecific is the one path reverse provisioning updates in the component's catalog-info:
// the whole specific, in the descriptor's field names.
const UpdatesSpecific = "spec.mesh.specific"

// ReverseInput is what the API starts a reverse provisioning with: the request's params, checked,
// and the component they are for. No credential.
type ReverseInput struct {
	Service string `json:"cdeService"`
	Cluster string `json:"cdeCluster"`
	JobName string `json:"jobName"`
	// Prefix is the s3://bucket/prefix/ the job's files are copied under.
	Prefix      string          `json:"artifactsPrefix"`
	ComponentID string          `json:"componentId"`
	Environment string          `json:"environment"`
	Scope       artifacts.Scope `json:"scope"`
}

// ReverseResult is a completed reverse provisioning: the updates of ReverseProvisioningStatus
// and the steps taken.
type ReverseResult struct {
	Updates map[string]any `json:"updates"`
	Logs    []Log          `json:"logs,omitempty"`
}

// ReverseParamField is the request field of each ReverseInput param, for the problems.
func ReverseParamField(param string) string { return "params." + param }

// ReverseProvision imports an existing Spark job into a component: it checks the service and the
// virtual cluster, reads the job and its resources and plans where each file will be on S3
// (writing nothing, so a refusal leaves S3 untouched), copies the files that need it, and answers
// the component's specific. A refusal fails the run with its cause (ErrTypeFailed, the steps in
// Failure.Logs).
func ReverseProvision(ctx workflow.Context, in ReverseInput) (ReverseResult, error) {
	r := &run{ctx: ctx, op: OpReverse, logger: log.With(workflow.GetLogger(ctx), "operation", string(OpReverse))}
	if err := workflow.SetQueryHandler(ctx, QueryProgress, r.progress); err != nil {
		r.logger.Warn("cannot serve the progress query", "error", err)
	}
	const phase = "reverse-provisioning"

	r.step(phase, fmt.Sprintf("Checking CDE service %s and virtual cluster %s", in.Service, in.Cluster))
	var res activities.Resolution
	if err := workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, local(cdpOptions)), a.ResolveTarget, activities.ResolveInput{
		Service: in.Service, Cluster: in.Cluster,
		ServiceField: ReverseParamField("cdeService"), ClusterField: ReverseParamField("cdeCluster"),
	}).Get(ctx, &res); err != nil {
		return ReverseResult{}, r.failed(phase, "checking the CDE service and virtual cluster failed", err)
	}
	if len(res.Problems) > 0 {
		msg := "the job cannot be imported: " + strings.Join(res.Problems.Messages(), "; ")
		r.note("ERROR", phase, msg)
		return ReverseResult{}, temporal.NewNonRetryableApplicationError(msg, ErrTypeFailed, nil, Failure{Problems: res.Problems, Logs: r.logs})
	}
	t := res.Target

	r.step(phase, fmt.Sprintf("Reading job %s and its resources in virtual cluster %s", in.JobName, t.ClusterName))
	var plan activities.ImportPlan
	if err := workflow.ExecuteActivity(r.with(cdpOptions), a.PlanImport, activities.ImportInput{
		Target: t, JobName: in.JobName, Prefix: in.Prefix, ComponentID: in.ComponentID, Environment: in.Environment, Scope: in.Scope,
	}).Get(ctx, &plan); err != nil {
		return ReverseResult{}, r.failed(phase, "importing job "+in.JobName+" failed", err)
	}
	for _, n := range plan.Notes {
		r.note(n.Level, phase, n.Message)
	}

	var copies []activities.ImportFile
	for _, f := range plan.Files {
		if f.Action == activities.ImportCopy {
			copies = append(copies, f)
		}
	}
	if len(copies) > 0 {
		r.step(phase, fmt.Sprintf("Copying %d files of job %s to %s", len(copies), plan.Job, in.Prefix))
		if err := workflow.ExecuteActivity(r.with(uploadOptions), a.CopyImport, activities.CopyImportInput{Target: t, Files: copies}).Get(ctx, nil); err != nil {
			return ReverseResult{}, r.failed(phase, "copying the files of job "+plan.Job+" to S3 failed", err)
		}
	}
	for _, f := range plan.Files {
		switch f.Action {
		case activities.ImportCopy:
			r.note("INFO", phase, fmt.Sprintf("Copied %s/%s to %s (%d bytes)", f.Resource, f.Path, f.To, f.Size))
		case activities.ImportCopied:
			r.note("INFO", phase, fmt.Sprintf("%s already holds %s/%s: not copied again", f.To, f.Resource, f.Path))
		case activities.ImportReuse:
			r.note("INFO", phase, fmt.Sprintf("%s/%s was uploaded by a provision from %s, unchanged since: the component names it, nothing copied", f.Resource, f.Path, f.To))
		case activities.ImportOnS3:
			r.note("INFO", phase, fmt.Sprintf("The job reads %s from S3 itself: the component names it", f.To))
		}
	}

	s := plan.Specific
	if plan.Job != s.JobName {
		r.note("WARNING", phase, fmt.Sprintf("Job %s does not follow the naming convention of component %s in %s, which names it %s: "+
			"the next provision creates job %s and leaves %s untouched. Once %s runs, delete %s (or rename it to %s before provisioning)",
			plan.Job, in.ComponentID, in.Environment, s.JobName, s.JobName, plan.Job, s.JobName, plan.Job, s.JobName))
	}
	r.step(phase, fmt.Sprintf("Imported job %s (%s) into component %s", plan.Job, s.Kind.Label(), in.ComponentID))
	return ReverseResult{Updates: map[string]any{UpdatesSpecific: plan.Fields}, Logs: r.logs}, nil
}
