package workflows

import (
	"fmt"
	"sort"

	"go.temporal.io/sdk/workflow"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// Provision creates or updates the Spark job of the component: checks (CDE service, virtual
// cluster, artifacts) → idbroker hosts → resources → uploads (streamed S3 → CDE by the worker,
// never through history) → job upsert and read-back → result. Every step is idempotent, so a
// retried or replayed run converges on the same job.
func Provision(ctx workflow.Context, in Input) (Result, error) {
	r := newRun(ctx, OpProvision, in)
	d := in.Descriptor
	s := d.Component.Specific

	r.step("validation", fmt.Sprintf("Checking CDE service %s, virtual cluster %s and the artifacts", s.CDEService, s.CDECluster))
	res, art, err := r.checks()
	if err != nil {
		return Result{}, err
	}
	if problems := append(res.Problems, art.Problems...); len(problems) > 0 {
		return Result{}, r.invalid(problems)
	}
	t := res.Target

	r.step("provision", "Looking up the idbroker hosts of the environment's datalake")
	var hosts []string
	if err := workflow.ExecuteActivity(r.with(cdpOptions), a.IDBrokerHosts, t).Get(ctx, &hosts); err != nil {
		return Result{}, r.failed("provision", "looking up the idbroker hosts failed", err)
	}

	mainRes := descriptor.MainResourceName(s.JobName)
	resources := []activities.ResourceInput{{Target: t, Name: mainRes, Type: cde.ResourceTypeFiles}}
	pyEnvRes := ""
	if s.Kind == descriptor.PySparkWithEnv {
		pyEnvRes = descriptor.PyEnvResourceName(s.JobName)
		resources = append(resources, activities.ResourceInput{Target: t, Name: pyEnvRes, Type: cde.ResourceTypePythonEnv, PythonVersion: s.PythonVersion})
	}
	for _, ri := range resources {
		r.step("provision", fmt.Sprintf("Ensuring the %s resource %s", ri.Type, ri.Name))
		var created bool
		if err := workflow.ExecuteActivity(r.with(cdeOptions), a.EnsureResource, ri).Get(ctx, &created); err != nil {
			return Result{}, r.failed("provision", "creating resource "+ri.Name+" failed", err)
		}
	}

	// Uploads run side by side, one activity per file: the wall time is the slowest file's,
	// and a retry redoes one file.
	r.step("provision", fmt.Sprintf("Uploading %d artifacts", len(art.Objects)))
	futures := make([]workflow.Future, len(art.Objects))
	for i, obj := range art.Objects {
		target := mainRes
		if obj.Artifact.Role == descriptor.RoleRequirements {
			target = pyEnvRes
		}
		futures[i] = workflow.ExecuteActivity(r.with(uploadOptions), a.UploadArtifact,
			activities.UploadInput{Target: t, Resource: target, Object: obj})
	}
	var uploaded int64
	for i, f := range futures {
		var up activities.UploadResult
		if err := f.Get(ctx, &up); err != nil {
			return Result{}, r.failed("provision", "uploading "+art.Objects[i].Artifact.Location.String()+" failed", err)
		}
		uploaded += up.Bytes
		r.note("INFO", "provision", fmt.Sprintf("%s is in resource %s as %s (%d bytes sent)", art.Objects[i].Artifact.Location, futuresTarget(art.Objects[i], mainRes, pyEnvRes), up.Path, up.Bytes))
	}

	r.step("provision", "Creating or updating job "+s.JobName)
	var job activities.JobInfo
	if err := workflow.ExecuteActivity(r.with(cdeOptions), a.UpsertJob,
		activities.JobInput{Target: t, Specific: s, IDBrokerHosts: hosts}).Get(ctx, &job); err != nil {
		return Result{}, r.failed("provision", "creating or updating job "+s.JobName+" failed", err)
	}
	verb := "updated"
	if job.Created {
		verb = "created"
	}
	msg := fmt.Sprintf("Spark job %s %s in virtual cluster %s of CDE service %s", job.Name, verb, t.ClusterName, t.ServiceName)
	r.step("provision", msg)

	return Result{
		Operation:   OpProvision,
		Message:     msg,
		PublicInfo:  publicInfo(t, s, job),
		PrivateInfo: privateInfo(ctx, t, job, mainRes, pyEnvRes, hosts),
		Logs:        r.logs,
	}, nil
}

func futuresTarget(obj activities.ArtifactObject, mainRes, pyEnvRes string) string {
	if obj.Artifact.Role == descriptor.RoleRequirements {
		return pyEnvRes
	}
	return mainRes
}

// publicInfo is what the Witboost marketplace shows on the component: typed entries, in the
// order they are listed.
func publicInfo(t activities.Target, s descriptor.Specific, job activities.JobInfo) []InfoEntry {
	out := []InfoEntry{
		{Key: "jobName", Type: "string", Label: "CDE job", Value: job.Name},
		{Key: "cdeService", Type: "string", Label: "CDE service", Value: t.ServiceName},
		{Key: "cdeVirtualCluster", Type: "string", Label: "Virtual cluster", Value: t.ClusterName},
	}
	if t.VcUIURL != "" {
		out = append(out, InfoEntry{Key: "virtualClusterUi", Type: "link", Label: "Jobs UI", Value: "Open the virtual cluster in CDE", Href: t.VcUIURL})
	}
	out = append(out, InfoEntry{Key: "jobType", Type: "string", Label: "Job type", Value: jobTypeLabel(s.Kind)})
	schedule := "Not scheduled"
	if sc := s.JobConfig; sc != nil && sc.Schedule != nil {
		schedule = fmt.Sprintf("%s (from %s to %s)", sc.Schedule.CronExpression, sc.Schedule.StartDate, sc.Schedule.EndDate)
	}
	out = append(out, InfoEntry{Key: "schedule", Type: "string", Label: "Schedule", Value: schedule})
	return out
}

func jobTypeLabel(k descriptor.JobKind) string {
	switch k {
	case descriptor.SparkJar:
		return "Spark (jar)"
	case descriptor.PySpark:
		return "PySpark"
	case descriptor.PySparkWithEnv:
		return "PySpark with Python environment"
	}
	return string(k)
}

// privateInfo is stored in the deployed descriptor, not shown: what an operator needs to find
// the job and this run again.
func privateInfo(ctx workflow.Context, t activities.Target, job activities.JobInfo, mainRes, pyEnvRes string, hosts []string) map[string]string {
	info := workflow.GetInfo(ctx)
	out := map[string]string{
		"cdeServiceId":     t.ServiceID,
		"virtualClusterId": t.VcID,
		"vcApiUrl":         t.VcAPIURL,
		"jobName":          job.Name,
		"mainResource":     mainRes,
		"workflowId":       info.WorkflowExecution.ID,
		"runId":            info.WorkflowExecution.RunID,
	}
	if pyEnvRes != "" {
		out["pythonEnvResource"] = pyEnvRes
	}
	if len(hosts) > 0 {
		sorted := append([]string(nil), hosts...)
		sort.Strings(sorted)
		out["idBrokerHosts"] = fmt.Sprint(sorted)
	}
	return out
}
