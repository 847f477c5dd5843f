package activities_test

import (
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

func (f *syncFixture) handMade(t *testing.T, job cde.Job, files map[string]string) {
	t.Helper()
	for _, m := range job.Mounts {
		require.NoError(t, f.sim.AddResource(f.vcID, m.ResourceName, cde.ResourceTypeFiles, ""))
	}
	for p, content := range files {
		require.NoError(t, f.sim.PutFile(f.vcID, job.Mounts[0].ResourceName, p, []byte(content)))
	}
	raw, err := json.Marshal(job)
	require.NoError(t, err)
	require.NoError(t, f.sim.PutJob(f.vcID, raw))
}

func (f *syncFixture) plan(t *testing.T, job, prefix string) (activities.ImportPlan, error) {
	t.Helper()
	val, err := activityEnv(t, f.acts).ExecuteActivity(f.acts.PlanImport, activities.ImportInput{
		Target: f.target, JobName: job, Prefix: prefix, ComponentID: "urn:dmb:cmp:fin:cash:0:wl", Environment: "development",
		Scope: artifacts.Scope{Domain: "fin", DataProduct: "cash", Environment: "development"}})
	if err != nil {
		return activities.ImportPlan{}, err
	}
	var plan activities.ImportPlan
	require.NoError(t, val.Get(&plan))
	return plan, nil
}

func (f *syncFixture) read(t *testing.T, loc string) string {
	t.Helper()
	l, err := descriptor.ParseS3Location(loc)
	require.NoError(t, err)
	body, _, err := f.acts.Store.Open(context.Background(), l)
	require.NoError(t, err)
	defer body.Close()
	b, err := io.ReadAll(body)
	require.NoError(t, err)
	return string(b)
}

// Files under a mount's directory prefix, and dependencies the job reads from S3 itself, are
// found; the prefix gets a final "/".
func TestPlanImportFindsFilesUnderDirPrefixesAndOnS3(t *testing.T) {
	f := newSyncFixture(t)
	f.handMade(t, cde.Job{Name: "legacy", Type: cde.JobTypeSpark,
		Mounts: []cde.Mount{{ResourceName: "other", DirPrefix: "/other/"}, {ResourceName: "libs", DirPrefix: "lib"}},
		Spark: &cde.SparkJob{File: "lib/app.jar", ClassName: "a.B", Jars: []string{"s3a://shared/jars/util.jar", "lib/dep.jar"},
			Conf: map[string]string{"dex.safariEnabled": "true", descriptor.ConfOwnerKey: "urn:dmb:cmp:fin:cash:0:wl", "spark.x": "1"}}},
		map[string]string{})
	require.NoError(t, f.sim.PutFile(f.vcID, "libs", "app.jar", []byte("app")))
	require.NoError(t, f.sim.PutFile(f.vcID, "libs", "dep.jar", []byte("dep")))

	plan, err := f.plan(t, "legacy", "s3://artifacts/imports/legacy")
	require.NoError(t, err)
	s := plan.Specific
	assert.Equal(t, descriptor.SparkJar, s.Kind)
	assert.Equal(t, "s3://artifacts/imports/legacy/app.jar", s.Jar)
	assert.Equal(t, []string{"s3://shared/jars/util.jar", "s3://artifacts/imports/legacy/dep.jar"}, s.JobConfig.Dependencies)
	assert.Equal(t, map[string]string{"spark.x": "1"}, s.JobConfig.Conf, "the owner and Safari are the provisioner's")
	assert.Equal(t, "fin-cash-0-wl-development", s.JobName)
	actions := map[string]string{}
	for _, file := range plan.Files {
		actions[file.To] = file.Action
	}
	assert.Equal(t, map[string]string{"s3://artifacts/imports/legacy/app.jar": activities.ImportCopy,
		"s3://shared/jars/util.jar": activities.ImportOnS3, "s3://artifacts/imports/legacy/dep.jar": activities.ImportCopy}, actions)

	// Copying twice (a retried attempt) recognises its own copies.
	env := activityEnv(t, f.acts)
	var copies []activities.ImportFile
	for _, file := range plan.Files {
		if file.Action == activities.ImportCopy {
			copies = append(copies, file)
		}
	}
	for range 2 {
		_, err = env.ExecuteActivity(f.acts.CopyImport, activities.CopyImportInput{Target: f.target, Files: copies})
		require.NoError(t, err)
	}
	assert.Equal(t, "app", f.read(t, "s3://artifacts/imports/legacy/app.jar"))
	again, err := f.plan(t, "legacy", "s3://artifacts/imports/legacy/")
	require.NoError(t, err)
	for _, file := range again.Files {
		if file.Action != activities.ImportOnS3 {
			assert.Equal(t, activities.ImportCopied, file.Action, file.To)
		}
	}
}

func TestPlanImportRefusals(t *testing.T) {
	f := newSyncFixture(t)
	f.handMade(t, cde.Job{Name: "local", Type: cde.JobTypeSpark, Mounts: []cde.Mount{{ResourceName: "r"}},
		Spark: &cde.SparkJob{File: "local:/opt/app.jar", ClassName: "a.B"}}, nil)
	f.handMade(t, cde.Job{Name: "noclass", Type: cde.JobTypeSpark, Mounts: []cde.Mount{{ResourceName: "r2"}},
		Spark: &cde.SparkJob{File: "app.jar"}}, map[string]string{"app.jar": "x"})
	f.handMade(t, cde.Job{Name: "twins", Type: cde.JobTypeSpark, Mounts: []cde.Mount{{ResourceName: "r3", DirPrefix: "a"}, {ResourceName: "r4", DirPrefix: "b"}},
		Spark: &cde.SparkJob{File: "a/app.jar", ClassName: "a.B", Jars: []string{"b/app.jar"}}}, nil)
	require.NoError(t, f.sim.PutFile(f.vcID, "r3", "app.jar", []byte("a")))
	require.NoError(t, f.sim.PutFile(f.vcID, "r4", "app.jar", []byte("b")))
	f.acts.Allowed = mustAllow(t, "s3://artifacts/{domain}/")

	for _, tt := range []struct{ job, prefix, cause string }{
		{"local", "s3://artifacts/fin/x/", "reads local:/opt/app.jar, which is neither in one of its resources nor on S3"},
		{"noclass", "s3://artifacts/fin/x/", "runs app.jar without a className"},
		{"twins", "s3://artifacts/fin/x/", "would both be copied to s3://artifacts/fin/x/app.jar"},
		{"local", "s3://artifacts/other/x/", "artifactsPrefix s3://artifacts/other/x/ is outside the S3 locations"},
		{"local", "artifacts/x/", "must start with s3://"},
	} {
		_, err := f.plan(t, tt.job, tt.prefix)
		require.Error(t, err, tt.job)
		var appErr *temporal.ApplicationError
		require.ErrorAs(t, err, &appErr)
		assert.Equal(t, activities.ErrTypeImport, appErr.Type())
		assert.True(t, appErr.NonRetryable())
		assert.Contains(t, appErr.Message(), tt.cause)
	}
}

func mustAllow(t *testing.T, s string) artifacts.Allowlist {
	t.Helper()
	a, err := artifacts.ParseAllowlist(s)
	require.NoError(t, err)
	return a
}
