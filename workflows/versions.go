package workflows

import "go.temporal.io/sdk/workflow"

// Workflow code changes reach runs already in flight: during a rolling upgrade a run started by
// one release is continued by a worker of the next, which replays its history through today's
// code. A change to the sequence of commands (activities, timers, memo upserts, version markers)
// must therefore keep the old sequence for the runs that started without it, behind
// workflow.GetVersion. The change ids are listed here, each with what it changed and which
// recorded histories (testdata/histories/<version>) still take its old branch.
//
// A branch for workflow.DefaultVersion may be removed once no run of the version before the
// change can be open: RUN_TIMEOUT after the release that introduced it finished rolling out.
// Its histories then leave testdata in the same commit, since nothing can replay them any more.
const (
	// changeProgressQuery (1): the running step is served by the "progress" query and shown as
	// the run's current details in the Temporal UI; before it (DefaultVersion, histories v1) each
	// step upserted the "step" memo, one command per step.
	changeProgressQuery = "progress-query"
	// changeInputRecheck (1): every workflow re-checks its input with the descriptor's static
	// rules before any activity, so a run started directly on Temporal gets the API's checks.
	// Before it (DefaultVersion, histories v1) the input was trusted.
	changeInputRecheck = "input-recheck"
	// changePruneAfterUpsert (1): files the descriptor no longer lists are removed after the job
	// upsert (PruneFiles), so a provision that fails leaves the deployed job with every file it
	// references. Before it (DefaultVersion, histories v1 and v2) SyncFiles removed them first.
	changePruneAfterUpsert = "prune-after-upsert"
	// changeUnprovisionEveryDelete (1): unprovision attempts every delete (the job, each
	// resource) and reports every failure. Before it (DefaultVersion, histories v1 and v2) it
	// stopped at the first failure.
	changeUnprovisionEveryDelete = "unprovision-every-delete"
	// changePythonEnvBuildProof (1): after new requirements are uploaded, the wait for the
	// Python environment takes ready (or failed) only as the outcome of a build that started
	// after the upload. Before it (DefaultVersion, histories v1 and v2) a status left over from
	// the previous build was taken.
	changePythonEnvBuildProof = "python-env-build-proof"
	// changeManifestResource (1): the upload manifest lives in a resource of its own
	// (descriptor.ManifestResourceName) that the job does not mount, so the job's files are the
	// user's artifacts only; the manifest left in the main resource is read once, then pruned.
	// Before it (DefaultVersion, histories v1 and v2) it was a file of the main resource.
	changeManifestResource = "manifest-resource"
	// changeReservedConfRule (1): the input re-check (changeInputRecheck) includes the rule
	// refusing the conf keys the provisioner reserves (descriptor.ConfKeyReserved). Runs that
	// passed the re-check without it (DefaultVersion, histories v2) must pass it again on replay.
	// Every later rule that refuses more than before needs the same guard.
	changeReservedConfRule = "reserved-conf-rule"
	// changePythonEnvBeside (1): a PySpark job's environment is chosen by PlanPythonEnv between
	// two slots, so new requirements or a new Python version build beside the environment the
	// deployed job uses, which is deleted once the job has switched. Before it (DefaultVersion,
	// histories v1 and v2) the one environment was rebuilt in place.
	changePythonEnvBeside = "python-env-beside"
	// changeLocalChecks (1): the checks of validate and provision (ResolveTarget,
	// CheckArtifacts) run as local activities, saving an activity task and a workflow task each.
	// Before it (DefaultVersion, histories v1 and v2) they were activities.
	changeLocalChecks = "local-checks"
	// changeLeanRuns (1): fewer commands and tasks per run, for throughput under bursts. A run
	// taking it records this one version marker (and the search-attribute upsert the SDK adds to
	// every marker) instead of one per change above, all of which it takes; a provision looks up
	// the idbroker hosts inside the ResolveTarget local activity instead of an activity of its
	// own, has SyncFiles check the job's owner beside its first requests (not ResolveTarget), and
	// records the upload manifest inside UpsertJob instead of RecordManifest beside it: three
	// workflow tasks and two activity tasks instead of five and four. Lean runs also check their
	// artifacts with their data product (CheckArtifactsIn, for S3_ALLOWED_PREFIXES' placeholders)
	// and an unprovision resolves its target as a fresh local activity. Before it
	// (DefaultVersion, histories v1 to v3) each change above was decided by its own marker.
	//
	// Every later change is again a change id of its own, decided with r.changed.
	changeLeanRuns = "lean-runs"
)

// versions are the branches one run takes, decided once at its start.
type versions struct {
	// lean: the run takes changeLeanRuns, and with it every change from before it without a
	// marker of their own.
	lean bool
	// stepMemo: every step upserts the "step" memo (runs from before changeProgressQuery).
	stepMemo bool
	// recheck: the input is re-checked before any activity.
	recheck bool
}

// decideVersions records (or, on replay, reads) the branches of this run that every workflow
// takes at its start. It runs before any other command of the workflow, so that a history of the
// first release, whose first command is not a version marker, takes the old branches. Changes
// of one step are decided where the step is (changed), as Temporal's patching does.
//
// changeLeanRuns is asked first: a history recorded before it has no marker for it (replay then
// gets DefaultVersion, with no command) and goes on to the markers it does have.
func decideVersions(ctx workflow.Context) versions {
	if workflow.GetVersion(ctx, changeLeanRuns, workflow.DefaultVersion, 1) >= 1 {
		return versions{lean: true, recheck: true}
	}
	return versions{
		stepMemo: workflow.GetVersion(ctx, changeProgressQuery, workflow.DefaultVersion, 1) == workflow.DefaultVersion,
		recheck:  workflow.GetVersion(ctx, changeInputRecheck, workflow.DefaultVersion, 1) >= 1,
	}
}

// changed reports whether this run takes the new branch of a one-step change (version 1 of
// changeID): a run that reached the step before the change, on an older worker, takes the old
// one. Call it right before the step, on every path that reaches it. A lean run takes the
// changes from before changeLeanRuns without asking.
func (r *run) changed(changeID string) bool {
	if r.v.lean && leanIncludes[changeID] {
		return true
	}
	return workflow.GetVersion(r.ctx, changeID, workflow.DefaultVersion, 1) >= 1
}

// leanIncludes are the changes a lean run takes without a marker of their own: those from before
// changeLeanRuns. A change made after it must not be added here.
var leanIncludes = map[string]bool{
	changePruneAfterUpsert:       true,
	changeUnprovisionEveryDelete: true,
	changePythonEnvBuildProof:    true,
	changeManifestResource:       true,
	changeReservedConfRule:       true,
	changePythonEnvBeside:        true,
	changeLocalChecks:            true,
}
