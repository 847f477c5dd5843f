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
	if err := r.recheckInput(); err != nil {
		return Result{}, err
	}
	p := &provisioning{run: r, d: r.in.Descriptor, s: r.in.Descriptor.Component.Specific}
	for _, step := range []func() error{
		p.check,            // the CDE service, the virtual cluster and the artifacts
		p.planResources,    // the job's resources and the files of each
		p.syncFiles,        // resources created, changed files uploaded
		p.waitForPythonEnv, // a PySpark environment built from its requirements
		p.upsertJob,        // the job created or updated (the upload manifest beside it)
		p.cleanUp,          // files no longer listed, the environment the job left
	} {
		if err := step(); err != nil {
			return Result{}, err
		}
	}
	return p.result(), nil
}

// provisioning is the state of a provision between its steps. Each step issues its commands in
// the order the recorded histories hold them (testdata/histories): reorder nothing without a
// version (versions.go).
type provisioning struct {
	*run
	d descriptor.Descriptor
	s descriptor.Specific

	res     activities.Resolution
	art     activities.ArtifactsCheck
	hostsF  workflow.Future // the idbroker lookup of runs from before changeLeanRuns
	hosts   []string
	prune   bool // files no longer listed go after the upsert (changePruneAfterUpsert)
	mainRes string
	sync    activities.SyncInput
	reqs    []activities.ArtifactObject
	// pyEnvRes is the python-env the job uses, stalePyEnvs the ones it leaves.
	pyEnvRes    string
	stalePyEnvs []string
	synced      activities.SyncResult
	// requirementsChanged: new requirements were uploaded (the environment is rebuilt).
	requirementsChanged bool
	manifestF           workflow.Future // RecordManifest, in runs from before changeLeanRuns
	manifestIn          *activities.SyncInput
	job                 activities.JobInfo
	removed             int // files removed after the upsert (cleanUp)
}

// check checks the CDE service, the virtual cluster and the artifacts; every problem refuses the
// run. Runs from before changeLeanRuns start the idbroker lookup here, beside what follows.
func (p *provisioning) check() error {
	p.step("validation", fmt.Sprintf("Checking CDE service %s, virtual cluster %s and the artifacts", p.s.CDEService, p.s.CDECluster))
	var err error
	if p.res, p.art, err = p.checks(); err != nil {
		return err
	}
	if problems := append(p.res.Problems, p.art.Problems...); len(problems) > 0 {
		return p.invalid(problems)
	}
	p.hosts = p.res.IDBrokerHosts
	if !p.v.lean {
		p.step("provision", "Looking up the idbroker hosts of the environment's datalake")
		p.hostsF = workflow.ExecuteActivity(p.with(cdpOptions), a.IDBrokerHosts, p.res.Target)
	}
	return nil
}

// planResources lays out the job's resources: the main one with the application and its
// dependencies, and for a PySpark job with an environment, the python-env with the requirements
// (PlanPythonEnv picks the slot: a new Python version builds beside the one the job uses).
func (p *provisioning) planResources() error {
	t, s, d := p.res.Target, p.s, p.d
	// Files the descriptor no longer lists are removed once the job is updated (cleanUp): until
	// then the deployed job may reference them.
	p.prune = p.changed(changePruneAfterUpsert)
	p.mainRes = descriptor.MainResourceName(s.JobName)
	p.sync = activities.SyncInput{Target: t, ManifestResource: p.mainRes, ComponentID: d.ComponentID}
	if p.changed(changeManifestResource) {
		p.sync.ManifestResource, p.sync.LegacyManifestResource = descriptor.ManifestResourceName(s.JobName), p.mainRes
	}
	main := activities.ResourceFiles{Resource: p.mainRes, Type: cde.ResourceTypeFiles, Prune: !p.prune}
	for _, obj := range p.art.Objects {
		if obj.Artifact.Role.InPythonEnv() {
			p.reqs = append(p.reqs, obj)
		} else {
			main.Objects = append(main.Objects, obj)
		}
	}
	p.sync.Resources = append(p.sync.Resources, main)
	if p.v.lean {
		p.sync.OwnerCheck = &activities.OwnerCheck{JobName: s.JobName, JobField: d.Path(descriptor.FieldJobName)}
	}
	if !s.Kind.UsesPythonEnv() {
		return nil
	}
	p.pyEnvRes = descriptor.PyEnvResourceName(s.JobName)
	if p.changed(changePythonEnvBeside) {
		planIn := activities.PythonEnvInput{Target: t, JobName: s.JobName, PythonVersion: s.PythonVersion,
			Manifest: p.sync.ManifestResource, LegacyManifest: p.sync.LegacyManifestResource}
		if len(p.reqs) > 0 {
			planIn.Requirements = &p.reqs[0] // the descriptor has one requirements file
		}
		var plan activities.PythonEnvPlan
		if err := workflow.ExecuteActivity(p.with(cdeOptions), a.PlanPythonEnv, planIn).Get(p.ctx, &plan); err != nil {
			return p.failed("provision", "choosing the Python environment of job "+s.JobName+" failed", err)
		}
		p.pyEnvRes, p.stalePyEnvs = plan.Resource, plan.Stale
	}
	mirror := ""
	if s.PyMirror != nil {
		mirror = strings.TrimSpace(*s.PyMirror) // blank means no mirror, as in the reference
	}
	p.sync.Resources = append(p.sync.Resources, activities.ResourceFiles{Resource: p.pyEnvRes, Type: cde.ResourceTypePythonEnv,
		PythonVersion: s.PythonVersion, PyMirror: mirror, Objects: p.reqs})
	return nil
}

// syncFiles creates the resources if needed and syncs their files, in one activity: uploads run
// side by side inside it (bounded by the worker's UPLOAD_CONCURRENCY), unchanged files are
// skipped, and its heartbeats carry the files done so that a worker crash resumes with the next
// file. The manifest that lets the next provision skip unchanged files is recorded beside the job
// upsert, nothing depending on it: by UpsertJob in lean runs, by RecordManifest before.
func (p *provisioning) syncFiles() error {
	p.step("provision", fmt.Sprintf("Syncing %d artifacts into resource %s", len(p.art.Objects), strings.Join(resourceNames(p.sync), " and ")))
	if err := workflow.ExecuteActivity(p.with(uploadOptions), a.SyncFiles, p.sync).Get(p.ctx, &p.synced); err != nil {
		if problem, ok := ownershipProblem(err); ok {
			return p.invalid(descriptor.Problems{problem})
		}
		return p.failed("provision", "uploading the artifacts failed", err)
	}
	for _, rs := range p.synced.Resources {
		switch {
		case rs.Recreated:
			p.note("INFO", "provision", fmt.Sprintf("Resource %s was built for another Python version: recreated for %s", rs.Resource, p.s.PythonVersion))
		case rs.Created:
			p.note("INFO", "provision", "Created resource "+rs.Resource)
		}
	}
	for _, f := range p.synced.Files {
		switch f.Action {
		case activities.ActionUploaded:
			p.note("INFO", "provision", fmt.Sprintf("Uploaded %s to resource %s as %s (%d bytes)", f.Source, f.Resource, f.Path, f.Bytes))
			p.requirementsChanged = p.requirementsChanged || f.Resource == p.pyEnvRes
		case activities.ActionUnchanged:
			p.note("INFO", "provision", fmt.Sprintf("%s is unchanged in resource %s: not uploaded", f.Path, f.Resource))
		case activities.ActionRemoved:
			p.note("INFO", "provision", fmt.Sprintf("Removed %s from resource %s: the descriptor no longer lists it", f.Path, f.Resource))
		}
	}
	if p.synced.ManifestStale {
		if p.v.lean {
			p.manifestIn = &p.sync
		} else {
			p.manifestF = workflow.ExecuteActivity(p.with(cdeOptions), a.RecordManifest, p.sync)
		}
	}
	return nil
}

// waitForPythonEnv waits for a PySpark job's environment to be built.
func (p *provisioning) waitForPythonEnv() error {
	if p.pyEnvRes == "" {
		return nil
	}
	p.step("provision", "Waiting for the Python environment "+p.pyEnvRes+" to be built")
	return p.run.waitForPythonEnv(activities.ResourceInput{Target: p.res.Target, Name: p.pyEnvRes, Type: cde.ResourceTypePythonEnv}, p.requirementsChanged)
}

// upsertJob creates or updates the job, with the idbroker hosts in its conf.
func (p *provisioning) upsertJob() error {
	s, d := p.s, p.d
	if p.hostsF != nil {
		if err := p.hostsF.Get(p.ctx, &p.hosts); err != nil {
			return p.failed("provision", "looking up the idbroker hosts failed", err)
		}
	}
	if len(p.hosts) == 0 {
		p.note("WARNING", "provision", fmt.Sprintf("No idbroker host known for the datalake of the environment (or CDE_IDBROKER_LOOKUP is off): job %s is deployed without %s", s.JobName, descriptor.ConfIDBrokerHostsKey))
	}
	p.step("provision", "Creating or updating job "+s.JobName)
	in := activities.JobInput{Target: p.res.Target, Specific: s, IDBrokerHosts: p.hosts, ComponentID: d.ComponentID,
		JobField: d.Path(descriptor.FieldJobName), PythonEnvResource: p.pyEnvRes, Manifest: p.manifestIn, JobAbsent: p.synced.JobAbsent}
	if err := workflow.ExecuteActivity(p.with(cdeOptions), a.UpsertJob, in).Get(p.ctx, &p.job); err != nil {
		if problem, ok := ownershipProblem(err); ok {
			return p.invalid(descriptor.Problems{problem})
		}
		return p.failed("provision", "creating or updating job "+s.JobName+" failed", err)
	}
	manifestWarning := p.job.ManifestWarning
	if p.manifestF != nil {
		if err := p.manifestF.Get(p.ctx, nil); err != nil {
			manifestWarning = causeMessage(err)
		}
	}
	if manifestWarning != "" {
		// The job is deployed; only the next provision's skipping of unchanged files is lost.
		p.note("WARNING", "provision", "Recording the upload manifest failed; the next provision uploads every file again: "+manifestWarning)
	}
	if w := p.job.DesiredStateWarning; w != "" {
		p.note("WARNING", "provision", "Recording the desired state of job "+s.JobName+" failed; drift detection compares the job with an older state, or none, until the next provision: "+w)
	}
	p.noteJobChanges()
	return nil
}

// noteJobChanges logs what the upsert did to the job: created, each field changed (old → new,
// secrets masked by the activity), or nothing.
func (p *provisioning) noteJobChanges() {
	name := p.s.JobName
	switch {
	case p.job.Created:
		p.note("INFO", "provision", "Created job "+name)
	case len(p.job.Changes) == 0 && p.job.Compared:
		p.note("INFO", "provision", "Job "+name+" was already up to date: no field changed")
	case len(p.job.Changes) == 0:
		p.note("INFO", "provision", "Updated job "+name)
	}
	for _, c := range p.job.Changes {
		p.note("INFO", "provision", fmt.Sprintf("Changed %s of job %s: %s → %s", c.Field, name, c.Old, c.New))
	}
}

// changesSummary is the run's changes in one line, for privateInfo: the job's fields changed,
// the files uploaded, unchanged and removed, and the resources created.
func (p *provisioning) changesSummary() string {
	job := "job unchanged"
	switch {
	case !p.job.Created && len(p.job.Changes) == 0 && !p.job.Compared:
		job = "job updated"
	case p.job.Created:
		job = "job created"
	case len(p.job.Changes) > 0:
		fields := make([]string, len(p.job.Changes))
		for i, c := range p.job.Changes {
			fields[i] = c.Field
		}
		job = "job updated: " + strings.Join(fields, ", ")
	}
	var uploaded, unchanged int
	removed := p.removed
	for _, f := range p.synced.Files {
		switch f.Action {
		case activities.ActionUploaded:
			uploaded++
		case activities.ActionUnchanged:
			unchanged++
		case activities.ActionRemoved:
			removed++
		}
	}
	parts := []string{job, fmt.Sprintf("files: %d uploaded, %d unchanged, %d removed", uploaded, unchanged, removed)}
	var created, recreated []string
	for _, rs := range p.synced.Resources {
		switch {
		case rs.Recreated:
			recreated = append(recreated, rs.Resource)
		case rs.Created:
			created = append(created, rs.Resource)
		}
	}
	if len(created) > 0 {
		parts = append(parts, "resources created: "+strings.Join(created, ", "))
	}
	if len(recreated) > 0 {
		parts = append(parts, "resources recreated: "+strings.Join(recreated, ", "))
	}
	return strings.Join(parts, "; ")
}

// cleanUp removes what the updated job no longer uses: files the descriptor no longer lists, and
// the Python environment it switched from. Its failures are warnings: the job is deployed.
func (p *provisioning) cleanUp() error {
	if p.prune && len(p.synced.Unlisted) > 0 {
		p.removed = p.pruneFiles(p.sync, p.mainRes)
	}
	for _, name := range p.stalePyEnvs {
		if err := workflow.ExecuteActivity(p.with(cdeOptions), a.DeleteResource, activities.DeleteInput{Target: p.res.Target, Name: name}).Get(p.ctx, nil); err != nil {
			p.note("WARNING", "provision", "Deleting the Python environment "+name+" the job no longer uses failed; the next provision deletes it: "+causeMessage(err))
			continue
		}
		p.note("INFO", "provision", "Deleted the Python environment "+name+": the job now uses "+p.pyEnvRes)
	}
	return nil
}

// result is the answer of a provision that deployed its job.
func (p *provisioning) result() Result {
	t := p.res.Target
	verb := "updated"
	if p.job.Created {
		verb = "created"
	}
	msg := fmt.Sprintf("Spark job %s %s in virtual cluster %s of CDE service %s", p.job.Name, verb, t.ClusterName, t.ServiceName)
	changes := p.changesSummary()
	p.note("INFO", "provision", "Changes: "+changes)
	p.step("provision", msg)
	private := privateInfo(p.ctx, t, p.job, p.mainRes, p.pyEnvRes, p.sync.ManifestResource, p.hosts, p.synced.BytesSent)
	private["changes"] = changes
	return Result{
		Operation:   OpProvision,
		Message:     msg,
		PublicInfo:  publicInfo(t, p.s, p.job),
		PrivateInfo: private,
		Logs:        p.logs,
	}
}

func publicInfo(t activities.Target, s descriptor.Specific, job activities.JobInfo) []InfoEntry {
	out := []InfoEntry{
		{Key: "jobName", Type: "string", Label: "CDE job", Value: job.Name},
		{Key: "cdeService", Type: "string", Label: "CDE service", Value: t.ServiceName},
		{Key: "cdeVirtualCluster", Type: "string", Label: "Virtual cluster", Value: t.ClusterName},
	}
	if t.VcUIURL != "" {
		out = append(out, InfoEntry{Key: "virtualClusterUi", Type: "link", Label: "Jobs UI", Value: "Open the virtual cluster in CDE", Href: t.VcUIURL})
	}
	out = append(out, InfoEntry{Key: "jobType", Type: "string", Label: "Job type", Value: s.Kind.Label()})
	schedule := "Not scheduled"
	if sc := s.JobConfig; sc != nil && sc.Schedule != nil {
		schedule = fmt.Sprintf("%s (from %s to %s)", sc.Schedule.CronExpression, sc.Schedule.StartDate, sc.Schedule.EndDate)
	}
	out = append(out, InfoEntry{Key: "schedule", Type: "string", Label: "Schedule", Value: schedule})
	return out
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
// warning, and the next provision removes them. It returns how many files it removed.
func (r *run) pruneFiles(sync activities.SyncInput, mainRes string) int {
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
		return 0
	}
	for _, f := range pruned.Files {
		r.note("INFO", "provision", fmt.Sprintf("Removed %s from resource %s: the descriptor no longer lists it", f.Path, f.Resource))
	}
	return len(pruned.Files)
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
