package workflows

import (
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// SkippedPrefix starts the result of an unprovision that found the service or virtual cluster
// gone or not active: there is nothing it can delete, and the Coordinator must not be blocked.
const SkippedPrefix = "Unprovision skipped"

// Unprovision deletes the Spark job and its resources. When the service or virtual cluster is
// missing or not active it completes as skipped, with the reasons; a failure to ask CDP is
// retried and never taken for "missing". Deleting what is already gone is success. Artifacts are
// not checked: a job must be removable after its jar was deleted from S3.
func Unprovision(ctx workflow.Context, in Input) (Result, error) {
	return unprovision(newRun(ctx, OpUnprovision, in, nil))
}

func unprovision(r *run) (Result, error) {
	ctx := r.ctx
	if err := r.recheckInput(); err != nil {
		return Result{}, err
	}
	in := r.in
	s := in.Descriptor.Component.Specific

	r.step("unprovision", fmt.Sprintf("Checking CDE service %s and virtual cluster %s", s.CDEService, s.CDECluster))
	var res activities.Resolution
	var resolveF workflow.Future
	if r.v.lean {
		// A short read: a local activity, as the checks of validate and provision; fresh from
		// CDP, since "gone" skips the deletes.
		in := r.resolveInput()
		in.Fresh = true
		resolveF = workflow.ExecuteLocalActivity(workflow.WithLocalActivityOptions(ctx, local(cdpOptions)), a.ResolveTarget, in)
	} else {
		resolveF = workflow.ExecuteActivity(r.with(cdpOptions), a.ResolveTarget, r.resolveInput())
	}
	if err := resolveF.Get(ctx, &res); err != nil {
		return Result{}, r.failed("unprovision", "checking the CDE service and virtual cluster failed", err)
	}
	if res.Ambiguous {
		// Several live services bear the name: which one holds the job is unknown, so nothing is
		// skipped as gone, nor deleted by guess.
		return Result{}, r.invalid(res.Problems)
	}
	if len(res.Problems) > 0 {
		msg := SkippedPrefix + ": " + strings.Join(res.Problems.Messages(), "; ")
		r.note("WARNING", "unprovision", msg)
		return Result{Operation: OpUnprovision, Message: msg, Skipped: true, Problems: res.Problems, Logs: r.logs}, nil
	}
	t := res.Target
	if in.RemoveData {
		r.note("INFO", "unprovision", "removeData is set: a Spark job holds no data of its own, its S3 artifacts are left untouched")
	}

	if r.changed(changeUnprovisionEveryDelete) {
		return r.deleteEverything(t)
	}
	// Runs from before changeUnprovisionEveryDelete stop at the first failed delete.
	r.step("unprovision", "Deleting job "+s.JobName)
	var del activities.DeleteResult
	if err := workflow.ExecuteActivity(r.with(cdeOptions), a.DeleteJob, activities.DeleteInput{Target: t, Name: s.JobName}).Get(ctx, &del); err != nil {
		return Result{}, r.failed("unprovision", "deleting job "+s.JobName+" failed", err)
	}
	jobWas := "deleted"
	if !del.Deleted {
		jobWas = "already absent"
		r.note("INFO", "unprovision", "Job "+s.JobName+" was already absent")
	}

	for _, name := range resourcesOf(s.JobName) {
		r.step("unprovision", "Deleting resource "+name)
		var rd activities.DeleteResult
		if err := workflow.ExecuteActivity(r.with(cdeOptions), a.DeleteResource, activities.DeleteInput{Target: t, Name: name}).Get(ctx, &rd); err != nil {
			return Result{}, r.failed("unprovision", "deleting resource "+name+" failed", err)
		}
	}

	r.step("unprovision", "Confirming job "+s.JobName+" is gone")
	if err := workflow.ExecuteActivity(r.with(cdeOptions), a.ConfirmJobGone, activities.DeleteInput{Target: t, Name: s.JobName}).Get(ctx, nil); err != nil {
		return Result{}, r.failed("unprovision", "confirming job "+s.JobName+" is gone failed", err)
	}
	msg := fmt.Sprintf("Spark job %s %s from virtual cluster %s of CDE service %s", s.JobName, jobWas, t.ClusterName, t.ServiceName)
	r.step("unprovision", msg)
	return Result{Operation: OpUnprovision, Message: msg, Logs: r.logs}, nil
}

// resourcesOf are the resources the unprovisions of runs from before changeUnprovisionEveryDelete
// delete: both, whatever the job kind, since a job that changed kind may have left the other.
// Since then, every one of descriptor.ResourceNames.
func resourcesOf(jobName string) []string {
	return []string{descriptor.MainResourceName(jobName), descriptor.PyEnvResourceName(jobName)}
}

// deleteEverything deletes the job and each of its resources (the manifest's included),
// attempting every delete even after one failed, and fails with every failure; what is already
// gone counts as deleted.
func (r *run) deleteEverything(t activities.Target) (Result, error) {
	s := r.in.Descriptor.Component.Specific
	var failures []string
	fail := func(what string, err error) {
		msg := what + " failed: " + causeMessage(err)
		r.note("ERROR", "unprovision", msg)
		failures = append(failures, msg)
	}

	r.step("unprovision", "Deleting job "+s.JobName)
	var del activities.DeleteResult
	jobErr := workflow.ExecuteActivity(r.with(cdeOptions), a.DeleteJob,
		activities.DeleteInput{Target: t, Name: s.JobName, ComponentID: r.in.Descriptor.ComponentID}).Get(r.ctx, &del)
	if p, ok := ownershipProblem(jobErr); ok {
		// Another component's job (claimed since the checks): nothing of it, nor of its
		// resources, which bear its name, is this component's to delete.
		msg := SkippedPrefix + ": " + p.Message
		r.note("WARNING", "unprovision", msg)
		return Result{Operation: OpUnprovision, Message: msg, Skipped: true, Problems: descriptor.Problems{p}, Logs: r.logs}, nil
	}
	if jobErr != nil {
		fail("deleting job "+s.JobName, jobErr)
	} else if !del.Deleted {
		r.note("INFO", "unprovision", "Job "+s.JobName+" was already absent")
	}
	for _, name := range descriptor.ResourceNames(s.JobName) {
		r.step("unprovision", "Deleting resource "+name)
		if err := workflow.ExecuteActivity(r.with(cdeOptions), a.DeleteResource, activities.DeleteInput{Target: t, Name: name}).Get(r.ctx, nil); err != nil {
			fail("deleting resource "+name, err)
		}
	}
	if jobErr == nil {
		r.step("unprovision", "Confirming job "+s.JobName+" is gone")
		if err := workflow.ExecuteActivity(r.with(cdeOptions), a.ConfirmJobGone, activities.DeleteInput{Target: t, Name: s.JobName}).Get(r.ctx, nil); err != nil {
			fail("confirming job "+s.JobName+" is gone", err)
		}
	}
	if len(failures) > 0 {
		msg := fmt.Sprintf("unprovisioning job %s failed (%d of its deletes): %s", s.JobName, len(failures), strings.Join(failures, "; "))
		return Result{}, temporal.NewNonRetryableApplicationError(msg, ErrTypeFailed, nil, Failure{Logs: r.logs})
	}
	jobWas := "deleted"
	if !del.Deleted {
		jobWas = "already absent"
	}
	msg := fmt.Sprintf("Spark job %s %s from virtual cluster %s of CDE service %s", s.JobName, jobWas, t.ClusterName, t.ServiceName)
	r.step("unprovision", msg)
	return Result{Operation: OpUnprovision, Message: msg, Logs: r.logs}, nil
}
