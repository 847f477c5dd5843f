package workflows_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

var a *activities.Activities

const sparkJob = `dataProduct:
  id: urn:dmb:dp:finance:cashflow:0
  environment: development
  components:
    - kind: workload
      id: urn:dmb:cmp:finance:cashflow:0:spark-wl
      specific:
        cdeService: cde-dev
        cdeCluster: vc-dev
        jobName: finance-cashflow-0-spark-wl-development
        jar: s3://artifacts/app.jar
        className: com.example.App
        jobConfig:
          dependencies: [s3://artifacts/libs/dep.jar]
componentIdToProvision: urn:dmb:cmp:finance:cashflow:0:spark-wl
`

func input(t *testing.T, text string) workflows.Input {
	t.Helper()
	d, problems := descriptor.Check(text)
	require.Empty(t, problems)
	return workflows.Input{Descriptor: *d}
}

var target = activities.Target{
	ServiceName: "cde-dev", ServiceID: "cluster-1", ClusterFqdn: "svc.example.com", ClusterName: "vc-dev",
	VcID: "dex-app-1", VcAPIURL: "https://vc.example.com/dex/api/v1", VcUIURL: "https://vc.example.com/ui",
}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Activities{})
	workflows.Register(env)
	t.Cleanup(func() { env.AssertExpectations(t) })
	return env
}

func objects(in workflows.Input) []activities.ArtifactObject {
	var out []activities.ArtifactObject
	for _, art := range in.Descriptor.Artifacts() {
		out = append(out, activities.ArtifactObject{Artifact: art, Size: 10, ETag: "e"})
	}
	return out
}

func TestProvisionCreatesResourcesUploadsAndUpsertsTheJob(t *testing.T) {
	env := newEnv(t)
	in := input(t, sparkJob)
	// The idbroker hosts come with the target: one local activity, no activity of their own.
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.MatchedBy(func(in activities.ResolveInput) bool { return in.IDBrokerHosts })).
		Return(activities.Resolution{Target: target, IDBrokerHosts: []string{"10.0.0.2", "10.0.0.1"}}, nil).Once()
	env.OnActivity(a.CheckArtifactsIn, mock.Anything, mock.Anything).Return(activities.ArtifactsCheck{Objects: objects(in)}, nil).Once()
	env.OnActivity(a.SyncFiles, mock.Anything, mock.MatchedBy(func(in activities.SyncInput) bool {
		return len(in.Resources) == 1 && len(in.Resources[0].Objects) == 2 && !in.Resources[0].Prune &&
			in.ManifestResource == descriptor.ManifestResourceName("finance-cashflow-0-spark-wl-development") &&
			in.LegacyManifestResource == in.Resources[0].Resource &&
			in.Resources[0].Type == "files" && in.Resources[0].Resource == descriptor.MainResourceName("finance-cashflow-0-spark-wl-development")
	})).Return(func(_ context.Context, in activities.SyncInput) (activities.SyncResult, error) {
		out := activities.SyncResult{ManifestStale: true, Unlisted: []activities.FileSync{{Resource: in.Resources[0].Resource, Path: "old.jar"}}}
		for _, o := range in.Resources[0].Objects {
			out.Files = append(out.Files, activities.FileSync{Resource: in.Resources[0].Resource, Path: o.Artifact.Location.Basename(), Action: activities.ActionUploaded, Bytes: o.Size})
			out.BytesSent += o.Size
		}
		return out, nil
	}).Once()
	env.OnActivity(a.UpsertJob, mock.Anything, mock.MatchedBy(func(in activities.JobInput) bool {
		// The stale manifest is recorded by the upsert, beside the job.
		return in.Specific.JobName == "finance-cashflow-0-spark-wl-development" && len(in.IDBrokerHosts) == 2 &&
			in.Manifest != nil && in.Manifest.ManifestResource == descriptor.ManifestResourceName(in.Specific.JobName)
	})).Return(activities.JobInfo{Name: "finance-cashflow-0-spark-wl-development", Created: true}, nil).Once()
	// Files no longer listed go once the job is updated, not before.
	env.OnActivity(a.PruneFiles, mock.Anything, mock.MatchedBy(func(in activities.SyncInput) bool {
		return len(in.Resources) == 1 && in.Resources[0].Prune && len(in.Resources[0].Objects) == 2
	})).Return(activities.PruneResult{Files: []activities.FileSync{{Resource: "mainres", Path: "old.jar", Action: activities.ActionRemoved}}}, nil).Once()

	env.ExecuteWorkflow(workflows.ProvisionName, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, "Spark job finance-cashflow-0-spark-wl-development created in virtual cluster vc-dev of CDE service cde-dev", res.Message)
	assert.Equal(t, "jobName", res.PublicInfo[0].Key)
	assert.Contains(t, res.PublicInfo, workflows.InfoEntry{Key: "virtualClusterUi", Type: "link", Label: "Jobs UI", Value: "Open the virtual cluster in CDE", Href: target.VcUIURL})
	assert.Equal(t, "[10.0.0.1 10.0.0.2]", res.PrivateInfo["idBrokerHosts"])
	assert.Equal(t, "20", res.PrivateInfo["bytesUploaded"])
	assert.Equal(t, target.VcAPIURL, res.PrivateInfo["vcApiUrl"])
	assert.NotEmpty(t, res.PrivateInfo["runId"])
	assert.GreaterOrEqual(t, len(res.Logs), 5)
	assert.Equal(t, "Removed old.jar from resource mainres: the descriptor no longer lists it", res.Logs[len(res.Logs)-3].Message)
	assert.Equal(t, "job created; files: 2 uploaded, 0 unchanged, 1 removed", res.PrivateInfo["changes"])
}

// An update's logs list each field it changed, old → new, as UpsertJob reported them (secrets
// masked there), and privateInfo sums the run up in one line.
func TestProvisionLogsWhatChanged(t *testing.T) {
	env := newEnv(t)
	in := input(t, sparkJob)
	mainRes := descriptor.MainResourceName("finance-cashflow-0-spark-wl-development")
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Target: target, IDBrokerHosts: []string{"10.0.0.1"}}, nil)
	env.OnActivity(a.CheckArtifactsIn, mock.Anything, mock.Anything).Return(activities.ArtifactsCheck{Objects: objects(in)}, nil)
	env.OnActivity(a.SyncFiles, mock.Anything, mock.Anything).Return(activities.SyncResult{
		Resources: []activities.ResourceSync{{Resource: mainRes}, {Resource: "manifest-x", EnsureResult: activities.EnsureResult{Created: true}}},
		Files: []activities.FileSync{
			{Resource: mainRes, Path: "app.jar", Action: activities.ActionUnchanged},
			{Resource: mainRes, Path: "dep.jar", Action: activities.ActionUploaded, Bytes: 7, Source: "s3://artifacts/libs/dep.jar"},
		},
	}, nil)
	env.OnActivity(a.UpsertJob, mock.Anything, mock.Anything).Return(activities.JobInfo{Name: "finance-cashflow-0-spark-wl-development",
		Changes: []activities.JobFieldChange{
			{Field: "spark.driverMemory", Old: "1g", New: "2g"},
			{Field: "spark.conf.spark.x.password", Old: activities.MaskedValue, New: activities.MaskedValue, Masked: true},
		},
		DesiredStateWarning: "write the desired state: 400",
	}, nil)

	env.ExecuteWorkflow(workflows.ProvisionName, in)
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	var msgs []string
	for _, l := range res.Logs {
		msgs = append(msgs, l.Level+" "+l.Message)
	}
	assert.Subset(t, msgs, []string{
		"INFO app.jar is unchanged in resource " + mainRes + ": not uploaded",
		"INFO Uploaded s3://artifacts/libs/dep.jar to resource " + mainRes + " as dep.jar (7 bytes)",
		"INFO Created resource manifest-x",
		"INFO Changed spark.driverMemory of job finance-cashflow-0-spark-wl-development: 1g → 2g",
		"INFO Changed spark.conf.spark.x.password of job finance-cashflow-0-spark-wl-development: (masked) → (masked)",
		"WARNING Recording the desired state of job finance-cashflow-0-spark-wl-development failed; drift detection compares the job with an older state, or none, until the next provision: write the desired state: 400",
		"INFO Changes: job updated: spark.driverMemory, spark.conf.spark.x.password; files: 1 uploaded, 1 unchanged, 0 removed; resources created: manifest-x",
	}, "%q", msgs)
	assert.NotContains(t, strings.Join(msgs, "\n"), "already up to date")
	assert.Equal(t, "job updated: spark.driverMemory, spark.conf.spark.x.password; files: 1 uploaded, 1 unchanged, 0 removed; resources created: manifest-x",
		res.PrivateInfo["changes"])
}

func TestProvisionSaysAJobAlreadyUpToDate(t *testing.T) {
	for _, tt := range []struct {
		name     string
		compared bool // false: the result of a worker from before the change logs
		log      string
		summary  string
	}{
		{"compared", true, "Job finance-cashflow-0-spark-wl-development was already up to date: no field changed", "job unchanged; files: 0 uploaded, 0 unchanged, 0 removed"},
		{"an older worker's result", false, "Updated job finance-cashflow-0-spark-wl-development", "job updated; files: 0 uploaded, 0 unchanged, 0 removed"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			in := input(t, sparkJob)
			env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Target: target, IDBrokerHosts: []string{"10.0.0.1"}}, nil)
			env.OnActivity(a.CheckArtifactsIn, mock.Anything, mock.Anything).Return(activities.ArtifactsCheck{Objects: objects(in)}, nil)
			env.OnActivity(a.SyncFiles, mock.Anything, mock.Anything).Return(activities.SyncResult{}, nil)
			env.OnActivity(a.UpsertJob, mock.Anything, mock.Anything).Return(activities.JobInfo{Name: "finance-cashflow-0-spark-wl-development", Compared: tt.compared}, nil)
			env.ExecuteWorkflow(workflows.ProvisionName, in)
			require.NoError(t, env.GetWorkflowError())
			var res workflows.Result
			require.NoError(t, env.GetWorkflowResult(&res))
			var msgs []string
			for _, l := range res.Logs {
				msgs = append(msgs, l.Message)
			}
			assert.Contains(t, msgs, tt.log)
			assert.Equal(t, tt.summary, res.PrivateInfo["changes"])
		})
	}
}

// A provision that fails at the job upsert removes no file: the deployed job keeps every file it
// references (PruneFiles is not mocked, so a call would fail the test).
func TestAFailedJobUpsertRemovesNoFile(t *testing.T) {
	env := newEnv(t)
	in := input(t, sparkJob)
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Target: target}, nil)
	env.OnActivity(a.CheckArtifactsIn, mock.Anything, mock.Anything).Return(activities.ArtifactsCheck{Objects: objects(in)}, nil)
	env.OnActivity(a.SyncFiles, mock.Anything, mock.MatchedBy(func(in activities.SyncInput) bool { return !in.Resources[0].Prune })).
		Return(activities.SyncResult{}, nil)
	env.OnActivity(a.UpsertJob, mock.Anything, mock.Anything).Return(activities.JobInfo{},
		temporal.NewNonRetryableApplicationError("create or update job: 400 spark.file: unsupported", activities.ErrTypeCDE, nil))
	env.ExecuteWorkflow(workflows.ProvisionName, in)
	require.Error(t, env.GetWorkflowError())
	assert.Contains(t, env.GetWorkflowError().Error(), "creating or updating job finance-cashflow-0-spark-wl-development failed")
}

func TestProvisionRefusesWithEveryProblemOfTheChecks(t *testing.T) {
	env := newEnv(t)
	in := input(t, sparkJob)
	svc := descriptor.ServiceNotRunning.At(in.Descriptor.Path(descriptor.FieldCDEService))
	missing := descriptor.ArtifactNotFound(in.Descriptor.Artifacts()[1])
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Problems: descriptor.Problems{svc}}, nil)
	env.OnActivity(a.CheckArtifactsIn, mock.Anything, mock.Anything).Return(activities.ArtifactsCheck{Problems: descriptor.Problems{missing}}, nil)

	env.ExecuteWorkflow(workflows.ProvisionName, in)
	err := env.GetWorkflowError()
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	assert.Equal(t, workflows.ErrTypeInvalid, appErr.Type())
	var failure workflows.Failure
	require.NoError(t, appErr.Details(&failure))
	assert.Equal(t, descriptor.Problems{svc, missing}, failure.Problems)
	assert.NotEmpty(t, failure.Logs)
}

func TestProvisionFailsNamingTheFileWhenAnUploadFailsForGood(t *testing.T) {
	env := newEnv(t)
	in := input(t, sparkJob)
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Target: target}, nil)
	env.OnActivity(a.CheckArtifactsIn, mock.Anything, mock.Anything).Return(activities.ArtifactsCheck{Objects: objects(in)}, nil)
	env.OnActivity(a.SyncFiles, mock.Anything, mock.Anything).Return(activities.SyncResult{},
		temporal.NewNonRetryableApplicationError("upload dep.jar to resource x: 403 Forbidden", activities.ErrTypeAuth, nil))

	env.ExecuteWorkflow(workflows.ProvisionName, in)
	err := env.GetWorkflowError()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr))
	assert.Equal(t, workflows.ErrTypeFailed, appErr.Type())
	assert.Contains(t, appErr.Error(), "uploading the artifacts failed: upload dep.jar to resource x: 403 Forbidden")
}

func TestUnprovisionIsSkippedWithTheReasonsWhenTheClusterIsGone(t *testing.T) {
	env := newEnv(t)
	in := input(t, sparkJob)
	gone := descriptor.ClusterRecentlyDeleted.At(in.Descriptor.Path(descriptor.FieldCDECluster))
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Problems: descriptor.Problems{gone}}, nil)

	env.ExecuteWorkflow(workflows.UnprovisionName, in)
	require.NoError(t, env.GetWorkflowError())
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.True(t, res.Skipped)
	assert.Equal(t, "Unprovision skipped: CDE Virtual Cluster was recently deleted", res.Message)
}

func TestUnprovisionDeletesJobAndBothResources(t *testing.T) {
	env := newEnv(t)
	in := input(t, sparkJob)
	job := "finance-cashflow-0-spark-wl-development"
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Target: target}, nil)
	env.OnActivity(a.DeleteJob, mock.Anything, activities.DeleteInput{Target: target, Name: job, ComponentID: in.Descriptor.ComponentID}).Return(activities.DeleteResult{Deleted: false}, nil).Once()
	env.OnActivity(a.DeleteResource, mock.Anything, activities.DeleteInput{Target: target, Name: descriptor.MainResourceName(job)}).Return(activities.DeleteResult{Deleted: true}, nil).Once()
	env.OnActivity(a.DeleteResource, mock.Anything, activities.DeleteInput{Target: target, Name: descriptor.PyEnvResourceName(job)}).Return(activities.DeleteResult{}, nil).Once()
	env.OnActivity(a.DeleteResource, mock.Anything, activities.DeleteInput{Target: target, Name: descriptor.PyEnvAltResourceName(job)}).Return(activities.DeleteResult{}, nil).Once()
	env.OnActivity(a.DeleteResource, mock.Anything, activities.DeleteInput{Target: target, Name: descriptor.ManifestResourceName(job)}).Return(activities.DeleteResult{}, nil).Once()
	env.OnActivity(a.ConfirmJobGone, mock.Anything, mock.Anything).Return(nil).Once()

	env.ExecuteWorkflow(workflows.UnprovisionName, in)
	require.NoError(t, env.GetWorkflowError())
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.False(t, res.Skipped)
	assert.Equal(t, "Spark job "+job+" already absent from virtual cluster vc-dev of CDE service cde-dev", res.Message)
}

func TestUnprovisionRetriesATransientCDPErrorInsteadOfSkipping(t *testing.T) {
	env := newEnv(t)
	in := input(t, sparkJob)
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{},
		temporal.NewApplicationError("list CDE services: 503", activities.ErrTypeTransient)).Times(2)
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Target: target}, nil).Once()
	env.OnActivity(a.DeleteJob, mock.Anything, mock.Anything).Return(activities.DeleteResult{Deleted: true}, nil)
	env.OnActivity(a.DeleteResource, mock.Anything, mock.Anything).Return(activities.DeleteResult{Deleted: true}, nil)
	env.OnActivity(a.ConfirmJobGone, mock.Anything, mock.Anything).Return(nil)

	env.ExecuteWorkflow(workflows.UnprovisionName, in)
	require.NoError(t, env.GetWorkflowError())
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.False(t, res.Skipped)
	assert.True(t, strings.HasPrefix(res.Message, "Spark job finance-cashflow-0-spark-wl-development deleted"))
}

func TestValidateReportsCDEStaticAndArtifactProblemsTogether(t *testing.T) {
	env := newEnv(t)
	in := input(t, sparkJob)
	static := descriptor.Problem{Field: "x", Message: "static", Solution: "Fix."}
	in.Problems = descriptor.Problems{static}
	svc := descriptor.ServiceNotFound.At("s")
	missing := descriptor.ArtifactNotFound(in.Descriptor.Artifacts()[0])
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Problems: descriptor.Problems{svc}}, nil)
	env.OnActivity(a.CheckArtifactsIn, mock.Anything, mock.Anything).Return(activities.ArtifactsCheck{Problems: descriptor.Problems{missing}}, nil)

	env.ExecuteWorkflow(workflows.ValidateName, in)
	require.NoError(t, env.GetWorkflowError())
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.False(t, res.Valid)
	assert.Equal(t, descriptor.Problems{svc, static, missing}, res.Problems)
}

func TestWorkflowIDs(t *testing.T) {
	assert.Equal(t, "cde-spark/development/urn:dmb:cmp:finance:cashflow:0:spark-wl",
		workflows.ComponentWorkflowID("development", "urn:dmb:cmp:finance:cashflow:0:spark-wl"))
	assert.Equal(t, "cde-spark-validate/production/urn:dmb:cmp:a:b:0:c/0123456789abcdef",
		workflows.ValidateWorkflowID("production", "urn:dmb:cmp:a:b:0:c", "0123456789abcdef0123"))
	assert.True(t, workflows.IsOwnWorkflowID(workflows.ComponentWorkflowID("d", "x")))
	assert.False(t, workflows.IsOwnWorkflowID("billing/42"))
}

const pysparkEnvJob = `dataProduct:
  id: urn:dmb:dp:finance:cashflow:0
  environment: development
  components:
    - kind: workload
      id: urn:dmb:cmp:finance:cashflow:0:py
      specific:
        cdeService: cde-dev
        cdeCluster: vc-dev
        jobName: finance-cashflow-0-py-development
        pythonFile: s3://artifacts/main.py
        pythonVersion: python3
        requirementsFile: s3://artifacts/requirements.txt
        pyMirror: https://pypi.example.com/simple
componentIdToProvision: urn:dmb:cmp:finance:cashflow:0:py
`

func pyEnvMocks(env *testsuite.TestWorkflowEnvironment, in workflows.Input) {
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Target: target}, nil)
	env.OnActivity(a.PlanPythonEnv, mock.Anything, mock.Anything).Return(activities.PythonEnvPlan{Resource: descriptor.PyEnvResourceName("finance-cashflow-0-py-development")}, nil)
	env.OnActivity(a.CheckArtifactsIn, mock.Anything, mock.Anything).Return(activities.ArtifactsCheck{Objects: objects(in)}, nil)
	env.OnActivity(a.SyncFiles, mock.Anything, mock.MatchedBy(func(si activities.SyncInput) bool {
		return len(si.Resources) == 2 && len(si.Resources[1].Objects) == 1 && !si.Resources[1].Prune &&
			si.Resources[1].Type == "python-env" && si.Resources[1].PythonVersion == "python3" && si.Resources[1].PyMirror == "https://pypi.example.com/simple"
	})).Return(activities.SyncResult{Files: []activities.FileSync{{Resource: descriptor.PyEnvResourceName("finance-cashflow-0-py-development"), Path: "requirements.txt", Action: activities.ActionUploaded}}}, nil)
	env.OnActivity(a.PruneFiles, mock.Anything, mock.Anything).Return(activities.PruneResult{}, nil).Maybe() // after the upsert
}

func TestProvisionWaitsForThePythonEnvironmentToBeReady(t *testing.T) {
	env := newEnv(t)
	in := input(t, pysparkEnvJob)
	pyEnvMocks(env, in)
	env.OnActivity(a.ResourceStatus, mock.Anything, mock.Anything).Return(activities.ResourceState{Status: "pending-build"}, nil).Once()
	env.OnActivity(a.ResourceStatus, mock.Anything, mock.Anything).Return(activities.ResourceState{Status: "building"}, nil).Times(3)
	env.OnActivity(a.ResourceStatus, mock.Anything, mock.Anything).Return(activities.ResourceState{Status: "ready"}, nil).Once()
	upserted := false
	env.OnActivity(a.UpsertJob, mock.Anything, mock.Anything).Return(func(context.Context, activities.JobInput) (activities.JobInfo, error) {
		upserted = true
		return activities.JobInfo{Name: "finance-cashflow-0-py-development", Created: true}, nil
	})

	env.ExecuteWorkflow(workflows.ProvisionName, in)
	require.NoError(t, env.GetWorkflowError())
	assert.True(t, upserted, "the job is written once the environment is ready")
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, descriptor.PyEnvResourceName("finance-cashflow-0-py-development"), res.PrivateInfo["pythonEnvResource"])
}

func TestProvisionFailsWithCDEsReasonWhenThePythonEnvironmentFailsToBuild(t *testing.T) {
	env := newEnv(t)
	in := input(t, pysparkEnvJob)
	pyEnvMocks(env, in)
	env.OnActivity(a.ResourceStatus, mock.Anything, mock.Anything).Return(activities.ResourceState{Status: "building"}, nil).Once()
	env.OnActivity(a.ResourceStatus, mock.Anything, mock.Anything).Return(activities.ResourceState{Status: "failed", Reason: "No matching distribution found for pandas==99"}, nil).Once()

	env.ExecuteWorkflow(workflows.ProvisionName, in)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(env.GetWorkflowError(), &appErr))
	assert.Equal(t, workflows.ErrTypeFailed, appErr.Type())
	assert.Contains(t, appErr.Error(), "failed to build: No matching distribution found for pandas==99")
}

func TestProvisionGivesUpOnAPythonEnvironmentThatNeverBuilds(t *testing.T) {
	env := newEnv(t)
	in := input(t, pysparkEnvJob)
	pyEnvMocks(env, in)
	env.OnActivity(a.ResourceStatus, mock.Anything, mock.Anything).Return(activities.ResourceState{Status: "building"}, nil)

	env.ExecuteWorkflow(workflows.ProvisionName, in)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(env.GetWorkflowError(), &appErr))
	assert.Contains(t, appErr.Error(), "was still building after 30m0s")
}

func TestComponentIDFromWorkflowID(t *testing.T) {
	comp := "urn:dmb:cmp:finance:cashflow:0:spark-wl"
	assert.Equal(t, comp, workflows.ComponentIDFromWorkflowID(workflows.ComponentWorkflowID("development", comp)))
	assert.Equal(t, comp, workflows.ComponentIDFromWorkflowID(workflows.ValidateWorkflowID("development", comp, "0123456789abcdef")))
	assert.Equal(t, "", workflows.ComponentIDFromWorkflowID("billing/42"))
	assert.Equal(t, "", workflows.ComponentIDFromWorkflowID("cde-spark/no-component"))
	// An environment with a "/" or outside printable ASCII is escaped like the component id.
	odd := "urn:dmb:cmp:finance:cash flow:0:wl/é"
	id := workflows.ComponentWorkflowID("dev/eu é", odd)
	assert.Equal(t, "cde-spark/dev%2Feu %C3%A9/urn:dmb:cmp:finance:cash flow:0:wl/%C3%A9", id)
	assert.Equal(t, odd, workflows.ComponentIDFromWorkflowID(id))
	assert.Equal(t, odd, workflows.ComponentIDFromWorkflowID(workflows.ValidateWorkflowID("dev/eu é", odd, "0123456789abcdef")))
}

// TestAWorkflowStartedDirectlyIsRecheckedBeforeAnyCall: Temporal is a trust boundary. Inputs the
// API would refuse fail the run as refused, with the problem at its field, and no activity runs
// (none is mocked: a call would fail the test).
func TestAWorkflowStartedDirectlyIsRecheckedBeforeAnyCall(t *testing.T) {
	tests := []struct {
		name     string
		workflow string
		change   func(in *workflows.Input)
		field    string
	}{
		{"provision of another component's job", workflows.ProvisionName, func(in *workflows.Input) {
			in.Descriptor.Component.Specific.JobName = "finance-cashflow-0-other-development"
		}, "dataProduct.components[0].specific.jobName"},
		{"unprovision of another component's job", workflows.UnprovisionName, func(in *workflows.Input) {
			in.Descriptor.Component.Specific.JobName = "payroll-0-wl-development"
		}, "dataProduct.components[0].specific.jobName"},
		{"provision with a bad memory setting", workflows.ProvisionName, func(in *workflows.Input) {
			in.Descriptor.Component.Specific.JobConfig.DriverMemory = new("lots")
		}, "dataProduct.components[0].specific.jobConfig.driverMemory"},
		{"provision setting a conf key the provisioner reserves", workflows.ProvisionName, func(in *workflows.Input) {
			in.Descriptor.Component.Specific.JobConfig.Conf = map[string]string{descriptor.ConfOwnerKey: "urn:dmb:cmp:other:dp:0:wl"}
		}, "dataProduct.components[0].specific.jobConfig.conf." + descriptor.ConfOwnerKey},
		{"validation claiming fewer problems than it has", workflows.ValidateName, func(in *workflows.Input) {
			in.Descriptor.DataProduct.Environment = "production"
		}, "dataProduct.components[0].specific.jobName"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			in := input(t, sparkJob)
			tt.change(&in)
			env.ExecuteWorkflow(tt.workflow, in)
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(env.GetWorkflowError(), &appErr), "%v", env.GetWorkflowError())
			assert.Equal(t, workflows.ErrTypeInvalid, appErr.Type())
			var failure workflows.Failure
			require.NoError(t, appErr.Details(&failure))
			require.Len(t, failure.Problems, 1)
			assert.Equal(t, tt.field, failure.Problems[0].Field)
		})
	}
}

// A validation the API started with the static problems it found goes on to check CDE and S3,
// so that the answer holds every problem at once.
func TestValidateWithTheAPIsStaticProblemsStillChecksCDE(t *testing.T) {
	env := newEnv(t)
	in := input(t, sparkJob)
	in.Descriptor.Component.Specific.JobConfig.DriverMemory = new("lots")
	in.Problems = descriptor.Validate(&in.Descriptor)
	require.Len(t, in.Problems, 1)
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Target: target}, nil).Once()
	env.OnActivity(a.CheckArtifactsIn, mock.Anything, mock.Anything).Return(activities.ArtifactsCheck{Objects: objects(in)}, nil).Once()
	env.ExecuteWorkflow(workflows.ValidateName, in)
	require.NoError(t, env.GetWorkflowError())
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.False(t, res.Valid)
	assert.Equal(t, in.Problems, res.Problems)
}

// TestTheProgressQueryFollowsTheRun: the status endpoint's source while a run is going. It
// answers the latest step and the steps so far, and adds nothing to the history.
func TestTheProgressQueryFollowsTheRun(t *testing.T) {
	env := newEnv(t)
	in := input(t, sparkJob)
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Target: target, IDBrokerHosts: []string{"10.0.0.1"}}, nil)
	env.OnActivity(a.CheckArtifactsIn, mock.Anything, mock.Anything).Return(activities.ArtifactsCheck{Objects: objects(in)}, nil)
	env.OnActivity(a.SyncFiles, mock.Anything, mock.Anything).After(10*time.Minute).Return(activities.SyncResult{}, nil)
	env.OnActivity(a.UpsertJob, mock.Anything, mock.Anything).Return(activities.JobInfo{Name: "finance-cashflow-0-spark-wl-development"}, nil)
	env.OnActivity(a.PruneFiles, mock.Anything, mock.Anything).Return(activities.PruneResult{}, nil).Maybe() // only with unlisted files
	var during workflows.Progress
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(workflows.QueryProgress)
		require.NoError(t, err)
		require.NoError(t, v.Get(&during))
	}, time.Minute)
	env.ExecuteWorkflow(workflows.ProvisionName, in)
	require.NoError(t, env.GetWorkflowError())
	assert.Equal(t, workflows.OpProvision, during.Operation)
	assert.Equal(t, "provision", during.Phase)
	assert.Equal(t, "Syncing 2 artifacts into resource "+descriptor.MainResourceName("finance-cashflow-0-spark-wl-development"), during.Step)
	assert.NotEmpty(t, during.Logs)
}

func TestLongestRunAddsTheBudgetsOfTheStepsInSequence(t *testing.T) {
	assert.Equal(t, 10*time.Minute, workflows.LongestRun(workflows.OpValidate))
	assert.Equal(t, 10*time.Minute+3*time.Hour+workflows.PythonEnvBudget+5*time.Minute+10*time.Minute, workflows.LongestRun(workflows.OpProvision))
	assert.Equal(t, 45*time.Minute, workflows.LongestRun(workflows.OpUnprovision))
}

// An unprovision attempts every delete and reports every failure, not only the first; a job it
// could not delete is not confirmed gone (ConfirmJobGone is not mocked).
func TestUnprovisionAttemptsEveryDeleteAndReportsEveryFailure(t *testing.T) {
	env := newEnv(t)
	in := input(t, sparkJob)
	job := "finance-cashflow-0-spark-wl-development"
	refused := func(msg string) error {
		return temporal.NewNonRetryableApplicationError(msg, activities.ErrTypeCDE, nil)
	}
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Target: target}, nil)
	env.OnActivity(a.DeleteJob, mock.Anything, mock.Anything).Return(activities.DeleteResult{}, refused("delete job: 403 not the owner")).Once()
	env.OnActivity(a.DeleteResource, mock.Anything, activities.DeleteInput{Target: target, Name: descriptor.MainResourceName(job)}).
		Return(activities.DeleteResult{}, refused("delete resource: 409 in use")).Once()
	env.OnActivity(a.DeleteResource, mock.Anything, activities.DeleteInput{Target: target, Name: descriptor.PyEnvResourceName(job)}).
		Return(activities.DeleteResult{Deleted: true}, nil).Once()
	env.OnActivity(a.DeleteResource, mock.Anything, activities.DeleteInput{Target: target, Name: descriptor.PyEnvAltResourceName(job)}).
		Return(activities.DeleteResult{}, nil).Once()
	env.OnActivity(a.DeleteResource, mock.Anything, activities.DeleteInput{Target: target, Name: descriptor.ManifestResourceName(job)}).
		Return(activities.DeleteResult{}, nil).Once()

	env.ExecuteWorkflow(workflows.UnprovisionName, in)
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(env.GetWorkflowError(), &appErr))
	assert.Equal(t, workflows.ErrTypeFailed, appErr.Type())
	assert.Contains(t, appErr.Error(), "(2 of its deletes)")
	assert.Contains(t, appErr.Error(), "deleting job "+job+" failed: delete job: 403 not the owner")
	assert.Contains(t, appErr.Error(), "deleting resource "+descriptor.MainResourceName(job)+" failed: delete resource: 409 in use")
}

// After new requirements are uploaded, a ready status left over from the previous build does not
// count: the provision waits for the new build to show, then for its outcome.
func TestAReadyFromThePreviousBuildIsNotTaken(t *testing.T) {
	tests := []struct {
		name     string
		statuses []string
		minWait  time.Duration // workflow time from the first poll to the job upsert, at least
	}{
		{"stale ready, then the new build", []string{"ready", "ready", "pending-build", "building", "ready"}, 0},
		{"stale failed, then the new build", []string{"failed", "building", "ready"}, 0},
		{"ready throughout: taken once the lag bound has passed", []string{"ready"}, workflows.PythonEnvStatusLag},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			in := input(t, pysparkEnvJob)
			pyEnvMocks(env, in)
			var polls int
			var first, upserted time.Time
			env.OnActivity(a.ResourceStatus, mock.Anything, mock.Anything).Return(func(context.Context, activities.ResourceInput) (activities.ResourceState, error) {
				if polls == 0 {
					first = env.Now()
				}
				st := tt.statuses[min(polls, len(tt.statuses)-1)]
				polls++
				return activities.ResourceState{Status: st, Reason: "previous build"}, nil
			})
			env.OnActivity(a.UpsertJob, mock.Anything, mock.Anything).Return(func(context.Context, activities.JobInput) (activities.JobInfo, error) {
				upserted = env.Now()
				return activities.JobInfo{Name: "finance-cashflow-0-py-development"}, nil
			})
			env.ExecuteWorkflow(workflows.ProvisionName, in)
			require.NoError(t, env.GetWorkflowError())
			assert.GreaterOrEqual(t, polls, len(tt.statuses))
			assert.GreaterOrEqual(t, upserted.Sub(first), tt.minWait)
			var res workflows.Result
			require.NoError(t, env.GetWorkflowResult(&res))
			var msgs []string
			for _, l := range res.Logs {
				msgs = append(msgs, l.Message)
			}
			assert.Contains(t, strings.Join(msgs, "\n"), "CDE still reports the previous build of")
		})
	}
}

// Without new requirements (unchanged), the status is taken as it is: nothing was rebuilt.
func TestAnUnchangedEnvironmentIsTakenAsReady(t *testing.T) {
	env := newEnv(t)
	in := input(t, pysparkEnvJob)
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Target: target}, nil)
	env.OnActivity(a.CheckArtifactsIn, mock.Anything, mock.Anything).Return(activities.ArtifactsCheck{Objects: objects(in)}, nil)
	env.OnActivity(a.PlanPythonEnv, mock.Anything, mock.Anything).Return(activities.PythonEnvPlan{Resource: descriptor.PyEnvResourceName("finance-cashflow-0-py-development")}, nil)
	env.OnActivity(a.SyncFiles, mock.Anything, mock.Anything).Return(activities.SyncResult{Files: []activities.FileSync{
		{Resource: descriptor.PyEnvResourceName("finance-cashflow-0-py-development"), Path: "requirements.txt", Action: activities.ActionUnchanged}}}, nil)
	env.OnActivity(a.ResourceStatus, mock.Anything, mock.Anything).Return(activities.ResourceState{Status: "ready"}, nil).Once()
	env.OnActivity(a.UpsertJob, mock.Anything, mock.Anything).Return(activities.JobInfo{Name: "finance-cashflow-0-py-development"}, nil)
	env.OnActivity(a.PruneFiles, mock.Anything, mock.Anything).Return(activities.PruneResult{}, nil).Maybe() // only with unlisted files
	env.ExecuteWorkflow(workflows.ProvisionName, in)
	require.NoError(t, env.GetWorkflowError())
}

// A job another component owns is refused as a problem of the job name (a 400 for the
// Coordinator), not as a failure; an unprovision leaves it alone and says why.
func TestAnotherComponentsJobIsNeverTouched(t *testing.T) {
	job := "finance-cashflow-0-spark-wl-development"
	owned := func(field string) error {
		p := descriptor.JobOwnedByAnother(field, job, "urn:dmb:cmp:finance:cash:flow:spark-wl", "urn:dmb:cmp:finance:cashflow:0:spark-wl")
		return temporal.NewNonRetryableApplicationError(p.Message, activities.ErrTypeOwnership, nil, p)
	}

	t.Run("provision", func(t *testing.T) {
		env := newEnv(t)
		in := input(t, sparkJob)
		field := in.Descriptor.Path(descriptor.FieldJobName)
		env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Target: target}, nil)
		env.OnActivity(a.CheckArtifactsIn, mock.Anything, mock.Anything).Return(activities.ArtifactsCheck{Objects: objects(in)}, nil)
		env.OnActivity(a.SyncFiles, mock.Anything, mock.Anything).Return(activities.SyncResult{}, nil)
		env.OnActivity(a.UpsertJob, mock.Anything, mock.MatchedBy(func(in activities.JobInput) bool {
			return in.ComponentID == "urn:dmb:cmp:finance:cashflow:0:spark-wl" && in.JobField == field
		})).Return(activities.JobInfo{}, owned(field))
		env.ExecuteWorkflow(workflows.ProvisionName, in)
		var appErr *temporal.ApplicationError
		require.True(t, errors.As(env.GetWorkflowError(), &appErr))
		assert.Equal(t, workflows.ErrTypeInvalid, appErr.Type())
		var failure workflows.Failure
		require.NoError(t, appErr.Details(&failure))
		require.Len(t, failure.Problems, 1)
		assert.Equal(t, field, failure.Problems[0].Field)
		assert.Contains(t, failure.Problems[0].Message, "already used by component urn:dmb:cmp:finance:cash:flow:spark-wl")
	})
	t.Run("unprovision", func(t *testing.T) {
		env := newEnv(t)
		in := input(t, sparkJob)
		env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Target: target}, nil)
		env.OnActivity(a.DeleteJob, mock.Anything, mock.Anything).Return(activities.DeleteResult{}, owned(""))
		env.ExecuteWorkflow(workflows.UnprovisionName, in) // no resource delete is mocked: none may run
		require.NoError(t, env.GetWorkflowError())
		var res workflows.Result
		require.NoError(t, env.GetWorkflowResult(&res))
		assert.True(t, res.Skipped)
		assert.True(t, strings.HasPrefix(res.Message, "Unprovision skipped: Job name "+job+" is already used by component"), res.Message)
	})
}

// A new Python version builds in the slot the deployed job does not use; the job switches to it
// at the upsert, and only then is the environment it left deleted.
func TestANewPythonVersionBuildsBesideTheEnvironmentInUse(t *testing.T) {
	env := newEnv(t)
	in := input(t, pysparkEnvJob)
	job := "finance-cashflow-0-py-development"
	alt, old := descriptor.PyEnvAltResourceName(job), descriptor.PyEnvResourceName(job)
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Target: target}, nil)
	env.OnActivity(a.CheckArtifactsIn, mock.Anything, mock.Anything).Return(activities.ArtifactsCheck{Objects: objects(in)}, nil)
	env.OnActivity(a.PlanPythonEnv, mock.Anything, mock.MatchedBy(func(in activities.PythonEnvInput) bool {
		return in.JobName == job && in.PythonVersion == "python3" && in.Requirements != nil &&
			in.Requirements.Artifact.Role == descriptor.RoleRequirements && in.Manifest == descriptor.ManifestResourceName(job)
	})).Return(activities.PythonEnvPlan{Resource: alt, Stale: []string{old}}, nil)
	env.OnActivity(a.SyncFiles, mock.Anything, mock.MatchedBy(func(si activities.SyncInput) bool {
		return len(si.Resources) == 2 && si.Resources[1].Resource == alt
	})).Return(activities.SyncResult{Files: []activities.FileSync{{Resource: alt, Path: "requirements.txt", Action: activities.ActionUploaded}}}, nil)
	env.OnActivity(a.ResourceStatus, mock.Anything, activities.ResourceInput{Target: target, Name: alt, Type: "python-env"}).Return(activities.ResourceState{Status: "building"}, nil).Once()
	env.OnActivity(a.ResourceStatus, mock.Anything, mock.Anything).Return(activities.ResourceState{Status: "ready"}, nil)
	deletedBeforeUpsert := false
	upserted := false
	env.OnActivity(a.UpsertJob, mock.Anything, mock.MatchedBy(func(in activities.JobInput) bool { return in.PythonEnvResource == alt })).
		Return(func(context.Context, activities.JobInput) (activities.JobInfo, error) {
			upserted = true
			return activities.JobInfo{Name: job}, nil
		})
	env.OnActivity(a.PruneFiles, mock.Anything, mock.Anything).Return(activities.PruneResult{}, nil).Maybe() // only with unlisted files
	env.OnActivity(a.DeleteResource, mock.Anything, activities.DeleteInput{Target: target, Name: old}).Return(func(context.Context, activities.DeleteInput) (activities.DeleteResult, error) {
		deletedBeforeUpsert = !upserted
		return activities.DeleteResult{Deleted: true}, nil
	}).Once()
	env.ExecuteWorkflow(workflows.ProvisionName, in)
	require.NoError(t, env.GetWorkflowError())
	assert.False(t, deletedBeforeUpsert, "the environment in use goes only after the job has switched")
	var res workflows.Result
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, alt, res.PrivateInfo["pythonEnvResource"])
}
