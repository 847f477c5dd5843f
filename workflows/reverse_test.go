package workflows_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

var reverseIn = workflows.ReverseInput{Service: "cde-dev", Cluster: "vc-dev", JobName: "legacy", Prefix: "s3://artifacts/imports/",
	ComponentID: "urn:dmb:cmp:finance:cashflow:0:spark-wl", Environment: "development"}

func TestReverseWorkflowIDsAreOwnAndNameTheComponent(t *testing.T) {
	id := workflows.ReverseWorkflowID("development", reverseIn.ComponentID, "0123456789abcdef0123")
	assert.True(t, workflows.IsOwnWorkflowID(id))
	assert.Equal(t, reverseIn.ComponentID, workflows.ComponentIDFromWorkflowID(id))
	assert.NotEqual(t, workflows.ComponentWorkflowID("development", reverseIn.ComponentID), id, "an import never blocks a provision")
}

// The plan's files that need it are copied, in one activity; the others are named as they are;
// the specific comes back at its one path, and a job name off the convention is explained.
func TestReverseProvisionCopiesWhatThePlanSaysAndAnswersTheSpecific(t *testing.T) {
	env := newEnv(t)
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Target: target}, nil)
	plan := activities.ImportPlan{
		Job: "legacy",
		Specific: descriptor.Specific{Kind: descriptor.SparkJar, CDEService: "cde-dev", CDECluster: "vc-dev",
			JobName: "finance-cashflow-0-spark-wl-development", Jar: "s3://artifacts/imports/app.jar", ClassName: "a.B"},
		Files: []activities.ImportFile{
			{Role: descriptor.RoleApplication, Resource: "r", Path: "app.jar", Size: 3, To: "s3://artifacts/imports/app.jar", Action: activities.ImportCopy},
			{Role: descriptor.RoleDependency, Resource: "r", Path: "dep.jar", To: "s3://artifacts/libs/dep.jar", Action: activities.ImportReuse},
		},
		Notes: []activities.ImportNote{{Level: "WARNING", Message: "The job lists extra files"}},
	}
	fields, err := plan.Specific.DescriptorFields()
	require.NoError(t, err)
	plan.Fields = fields
	env.OnActivity(a.PlanImport, mock.Anything, mock.Anything).Return(plan, nil).Once()
	env.OnActivity(a.CopyImport, mock.Anything, activities.CopyImportInput{Target: target, Files: plan.Files[:1]}).Return(nil).Once()

	env.ExecuteWorkflow(workflows.ReverseProvisionName, reverseIn)
	require.NoError(t, env.GetWorkflowError())
	var res workflows.ReverseResult
	require.NoError(t, env.GetWorkflowResult(&res))
	specific := res.Updates[workflows.UpdatesSpecific].(map[string]any)
	assert.Equal(t, "s3://artifacts/imports/app.jar", specific["jar"])
	assert.NotContains(t, specific, "kind")
	var logs []string
	for _, l := range res.Logs {
		logs = append(logs, l.Level+" "+l.Message)
	}
	assert.Contains(t, logs, "WARNING The job lists extra files")
	assert.Contains(t, logs, "INFO Copied r/app.jar to s3://artifacts/imports/app.jar (3 bytes)")
	assert.Contains(t, logs, "INFO r/dep.jar was uploaded by a provision from s3://artifacts/libs/dep.jar, unchanged since: the component names it, nothing copied")
	assert.Contains(t, joinLines(logs), "Job legacy does not follow the naming convention")
}

// A missing service is a failed import with the reference's message; nothing else is asked.
func TestReverseProvisionOfAMissingServiceFailsWithItsProblem(t *testing.T) {
	env := newEnv(t)
	problem := descriptor.ServiceNotFound.At("params.cdeService", `no service named "cde-dev"`)
	env.OnActivity(a.ResolveTarget, mock.Anything, mock.Anything).Return(activities.Resolution{Problems: descriptor.Problems{problem}}, nil)
	env.ExecuteWorkflow(workflows.ReverseProvisionName, reverseIn)
	err := env.GetWorkflowError()
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	assert.Equal(t, workflows.ErrTypeFailed, appErr.Type())
	assert.Contains(t, appErr.Message(), problem.Message)
}

func joinLines(ss []string) string {
	out := ""
	for _, s := range ss {
		out += s + "\n"
	}
	return out
}
