package workflows

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
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
	return provision(newRun(ctx, OpProvision, in, nil))
}

func provision(r *run) (Result, error) {
	ctx := r.ctx
	if err := r.recheckInput(); err != nil {
		return Result{}, err
	}
	d := r.in.Descriptor
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

	// The idbroker lookup (for the job's conf): lean runs had it done inside ResolveTarget,
	// earlier runs run it beside the resources and uploads.
	var hostsF workflow.Future
	if !r.v.lean {
		r.step("provision", "Looking up the idbroker hosts of the environment's datalake")
		hostsF = workflow.ExecuteActivity(r.with(cdpOptions), a.IDBrokerHosts, t)
	}

	// One activity creates the resources if needed and syncs their files: uploads run side by
	// side inside it (bounded by the worker's UPLOAD_CONCURRENCY), unchanged files are skipped,
	// and its heartbeats carry the files done so that a worker crash resumes with the next file.
	// Files the descriptor no longer lists are removed once the job is updated (PruneFiles
	// below): until then the deployed job may reference them.
	pruneAfterUpsert := r.changed(changePruneAfterUpsert)
	mainRes := descriptor.MainResourceName(s.JobName)
	sync := activities.SyncInput{Target: t, ManifestResource: mainRes, ComponentID: d.ComponentID}
	if r.changed(changeManifestResource) {
		sync.ManifestResource, sync.LegacyManifestResource = descriptor.ManifestResourceName(s.JobName), mainRes
	}
	main := activities.ResourceFiles{Resource: mainRes, Type: cde.ResourceTypeFiles, Prune: !pruneAfterUpsert}
	var reqs []activities.ArtifactObject
	for _, obj := range art.Objects {
		if obj.Artifact.Role == descriptor.RoleRequirements {
			reqs = append(reqs, obj)
		} else {
			main.Objects = append(main.Objects, obj)
		}
	}
	sync.Resources = append(sync.Resources, main)
	if r.v.lean {
		sync.OwnerCheck = &activities.OwnerCheck{JobName: s.JobName, JobField: d.Path(descriptor.FieldJobName)}
	}
	pyEnvRes := ""
	var stalePyEnvs []string
	if s.Kind == descriptor.PySparkWithEnv {
		pyEnvRes = descriptor.PyEnvResourceName(s.JobName)
		if r.changed(changePythonEnvBeside) {
			// A new Python version builds beside the environment the deployed job uses.
			planIn := activities.PythonEnvInput{Target: t, JobName: s.JobName, PythonVersion: s.PythonVersion,
				Manifest: sync.ManifestResource, LegacyManifest: sync.LegacyManifestResource}
			if len(reqs) > 0 {
				planIn.Requirements = &reqs[0] // the descriptor has one requirements file
			}
			var plan activities.PythonEnvPlan
			if err := workflow.ExecuteActivity(r.with(cdeOptions), a.PlanPythonEnv, planIn).Get(ctx, &plan); err != nil {
				return Result{}, r.failed("provision", "choosing the Python environment of job "+s.JobName+" failed", err)
			}
			pyEnvRes, stalePyEnvs = plan.Resource, plan.Stale
		}
		mirror := ""
		if s.PyMirror != nil {
			mirror = strings.TrimSpace(*s.PyMirror) // blank means no mirror, as in the reference
		}
		sync.Resources = append(sync.Resources, activities.ResourceFiles{Resource: pyEnvRes, Type: cde.ResourceTypePythonEnv,
			PythonVersion: s.PythonVersion, PyMirror: mirror, Objects: reqs})
	}
	r.step("provision", fmt.Sprintf("Syncing %d artifacts into resource %s", len(art.Objects), strings.Join(resourceNames(sync), " and ")))
	var synced activities.SyncResult
	if err := workflow.ExecuteActivity(r.with(uploadOptions), a.SyncFiles, sync).Get(ctx, &synced); err != nil {
		if p, ok := ownershipProblem(err); ok {
			return Result{}, r.invalid(descriptor.Problems{p})
		}
		return Result{}, r.failed("provision", "uploading the artifacts failed", err)
	}
	for _, rs := range synced.Resources {
		switch {
		case rs.Recreated:
			r.note("INFO", "provision", fmt.Sprintf("Resource %s was built for another Python version: recreated for %s", rs.Resource, s.PythonVersion))
		case rs.Created:
			r.note("INFO", "provision", "Created resource "+rs.Resource)
		}
	}
	requirementsChanged := false
	for _, f := range synced.Files {
		switch f.Action {
		case activities.ActionUploaded:
			r.note("INFO", "provision", fmt.Sprintf("Uploaded %s to resource %s as %s (%d bytes)", f.Source, f.Resource, f.Path, f.Bytes))
			requirementsChanged = requirementsChanged || f.Resource == pyEnvRes
		case activities.ActionUnchanged:
			r.note("INFO", "provision", fmt.Sprintf("%s is unchanged in resource %s: not uploaded", f.Path, f.Resource))
		case activities.ActionRemoved:
			r.note("INFO", "provision", fmt.Sprintf("Removed %s from resource %s: the descriptor no longer lists it", f.Path, f.Resource))
		}
	}
	// The manifest that lets the next provision skip unchanged files is recorded beside the job
	// upsert: nothing below depends on it.
	// Lean runs have UpsertJob record it.
	var manifestF workflow.Future
	var manifestIn *activities.SyncInput
	if synced.ManifestStale {
		if r.v.lean {
			manifestIn = &sync
		} else {
			manifestF = workflow.ExecuteActivity(r.with(cdeOptions), a.RecordManifest, sync)
		}
	}

	if pyEnvRes != "" {
		r.step("provision", "Waiting for the Python environment "+pyEnvRes+" to be built")
		if err := r.waitForPythonEnv(activities.ResourceInput{Target: t, Name: pyEnvRes, Type: cde.ResourceTypePythonEnv}, requirementsChanged); err != nil {
			return Result{}, err
		}
	}

	hosts := res.IDBrokerHosts
	if hostsF != nil {
		if err := hostsF.Get(ctx, &hosts); err != nil {
			return Result{}, r.failed("provision", "looking up the idbroker hosts failed", err)
		}
	}
	if len(hosts) == 0 {
		r.note("WARNING", "provision", fmt.Sprintf("No idbroker host known for the datalake of the environment (or CDE_IDBROKER_LOOKUP is off): job %s is deployed without %s", s.JobName, descriptor.ConfIDBrokerHostsKey))
	}
	r.step("provision", "Creating or updating job "+s.JobName)
	var job activities.JobInfo
	if err := workflow.ExecuteActivity(r.with(cdeOptions), a.UpsertJob, activities.JobInput{Target: t, Specific: s, IDBrokerHosts: hosts,
		ComponentID: d.ComponentID, JobField: d.Path(descriptor.FieldJobName), PythonEnvResource: pyEnvRes, Manifest: manifestIn, JobAbsent: synced.JobAbsent}).Get(ctx, &job); err != nil {
		if p, ok := ownershipProblem(err); ok {
			return Result{}, r.invalid(descriptor.Problems{p})
		}
		return Result{}, r.failed("provision", "creating or updating job "+s.JobName+" failed", err)
	}
	manifestWarning := job.ManifestWarning
	if manifestF != nil {
		if err := manifestF.Get(ctx, nil); err != nil {
			manifestWarning = causeMessage(err)
		}
	}
	if manifestWarning != "" {
		// The job is deployed; only the next provision's skipping of unchanged files is lost.
		r.note("WARNING", "provision", "Recording the upload manifest failed; the next provision uploads every file again: "+manifestWarning)
	}
	if pruneAfterUpsert && len(synced.Unlisted) > 0 {
		r.pruneFiles(sync, mainRes)
	}
	for _, name := range stalePyEnvs {
		// The job has switched to pyEnvRes: the environment it left goes.
		if err := workflow.ExecuteActivity(r.with(cdeOptions), a.DeleteResource, activities.DeleteInput{Target: t, Name: name}).Get(ctx, nil); err != nil {
			r.note("WARNING", "provision", "Deleting the Python environment "+name+" the job no longer uses failed; the next provision deletes it: "+causeMessage(err))
			continue
		}
		r.note("INFO", "provision", "Deleted the Python environment "+name+": the job now uses "+pyEnvRes)
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
		PrivateInfo: privateInfo(ctx, t, job, mainRes, pyEnvRes, sync.ManifestResource, hosts, synced.BytesSent),
		Logs:        r.logs,
	}, nil
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
func privateInfo(ctx workflow.Context, t activities.Target, job activities.JobInfo, mainRes, pyEnvRes, manifestRes string, hosts []string, bytesSent int64) map[string]string {
	info := workflow.GetInfo(ctx)
	out := map[string]string{
		"cdeServiceId":     t.ServiceID,
		"virtualClusterId": t.VcID,
		"vcApiUrl":         t.VcAPIURL,
		"jobName":          job.Name,
		"mainResource":     mainRes,
		"workflowId":       info.WorkflowExecution.ID,
		"runId":            info.WorkflowExecution.RunID,
		"bytesUploaded":    strconv.FormatInt(bytesSent, 10),
	}
	if pyEnvRes != "" {
		out["pythonEnvResource"] = pyEnvRes
	}
	if manifestRes != mainRes {
		out["manifestResource"] = manifestRes
	}
	if len(hosts) > 0 {
		sorted := append([]string(nil), hosts...)
		sort.Strings(sorted)
		out["idBrokerHosts"] = fmt.Sprint(sorted)
	}
	return out
}

// pruneFiles removes from the main resource the files the descriptor no longer lists, now that
// the job no longer references them. The job is deployed whatever happens here: a failure is a
// warning, and the next provision removes them.
func (r *run) pruneFiles(sync activities.SyncInput, mainRes string) {
	in := sync
	in.Resources = nil
	for _, rf := range sync.Resources {
		if rf.Resource == mainRes {
			rf.Prune = true
			in.Resources = append(in.Resources, rf)
		}
	}
	var pruned activities.PruneResult
	if err := workflow.ExecuteActivity(r.with(cdeOptions), a.PruneFiles, in).Get(r.ctx, &pruned); err != nil {
		r.note("WARNING", "provision", "Removing the files the descriptor no longer lists failed; the next provision removes them: "+causeMessage(err))
		return
	}
	for _, f := range pruned.Files {
		r.note("INFO", "provision", fmt.Sprintf("Removed %s from resource %s: the descriptor no longer lists it", f.Path, f.Resource))
	}
}

// PythonEnvBudget bounds the wait for a Python environment build; CDE builds take minutes.
const PythonEnvBudget = 30 * time.Minute

// PythonEnvStatusLag bounds how long CDE may keep reporting the previous build's outcome after new
// requirements are uploaded. CDE documents no build id or timestamp that proves which build a
// status belongs to, so the proof is seeing the new build (pending-build or building) after the
// upload; when CDE reports the old outcome throughout for longer than this, the environment is
// taken to need no build (a build takes CDE tens of seconds at least, and shows meanwhile).
const PythonEnvStatusLag = 30 * time.Second

// waitForPythonEnv polls the python-env resource until it is ready, durably: the waits are
// workflow timers, so a worker restart does not lose the budget already spent. Polls start at
// one second (a small environment is quick) and back off to 15 s. A failed build fails the
// provision with CDE's reason. When this provision uploaded new requirements (rebuilt), a ready
// or failed status counts only as the outcome of the new build (see PythonEnvStatusLag).
func (r *run) waitForPythonEnv(in activities.ResourceInput, rebuilt bool) error {
	needProof := rebuilt && r.changed(changePythonEnvBuildProof)
	uploaded := workflow.Now(r.ctx)
	sawBuild, toldStale := false, false
	deadline := uploaded.Add(PythonEnvBudget)
	interval := time.Second
	for {
		var state activities.ResourceState
		if err := workflow.ExecuteActivity(r.with(cdpOptions), a.ResourceStatus, in).Get(r.ctx, &state); err != nil {
			return r.failed("provision", "reading the status of the Python environment "+in.Name+" failed", err)
		}
		final := state.Status == cde.ResourceStatusReady || state.Status == cde.ResourceStatusFailed
		stale := final && needProof && !sawBuild && workflow.Now(r.ctx).Sub(uploaded) < PythonEnvStatusLag
		switch {
		case stale:
			if !toldStale {
				toldStale = true
				r.note("INFO", "provision", fmt.Sprintf("CDE still reports the previous build of %s (%s): waiting for the build of the new requirements", in.Name, state.Status))
			}
		case state.Status == cde.ResourceStatusReady:
			r.note("INFO", "provision", "The Python environment "+in.Name+" is ready")
			return nil
		case state.Status == cde.ResourceStatusFailed:
			reason := state.Reason
			if reason == "" {
				reason = "CDE gave no reason"
			}
			msg := fmt.Sprintf("the Python environment %s failed to build: %s", in.Name, reason)
			r.note("ERROR", "provision", msg)
			return temporal.NewNonRetryableApplicationError(msg+" (check requirements.txt and the mirror, then provision again)",
				ErrTypeFailed, nil, Failure{Logs: r.logs})
		case state.Status == cde.ResourceStatusPendingBuild || state.Status == cde.ResourceStatusBuilding:
			sawBuild = true
		}
		if !workflow.Now(r.ctx).Before(deadline) {
			msg := fmt.Sprintf("the Python environment %s was still %s after %s", in.Name, state.Status, PythonEnvBudget)
			r.note("ERROR", "provision", msg)
			return temporal.NewNonRetryableApplicationError(msg, ErrTypeFailed, nil, Failure{Logs: r.logs})
		}
		if err := workflow.Sleep(r.ctx, interval); err != nil {
			return err
		}
		interval = min(2*interval, 15*time.Second)
	}
}

func resourceNames(in activities.SyncInput) []string {
	out := make([]string, len(in.Resources))
	for i, rf := range in.Resources {
		out[i] = rf.Resource
	}
	return out
}

// ownershipProblem is the problem of an activity that refused to touch another component's job.
func ownershipProblem(err error) (descriptor.Problem, bool) {
	var appErr *temporal.ApplicationError
	var p descriptor.Problem
	if !errors.As(err, &appErr) || appErr.Type() != activities.ErrTypeOwnership || appErr.Details(&p) != nil {
		return p, false
	}
	return p, true
}
