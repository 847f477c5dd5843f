package activities_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
	"github.com/witboost-community/cde-spark-provisioner/internal/testsupport"
)

// allowlistFixture is activities whose store reads a local S3 through a recording proxy, with
// the allowlist given.
func allowlistFixture(t *testing.T, allowed string, objects ...string) (*activities.Activities, *testsupport.Recorder) {
	t.Helper()
	acts, _ := newActivities(t)
	ctx := context.Background()
	s3, err := s3local.Start(ctx, s3local.Options{Addr: "127.0.0.1:0", Buckets: []string{"artifacts"}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s3.Close() })
	for _, key := range objects {
		require.NoError(t, s3.Put(ctx, "artifacts", key, strings.NewReader("jar"), 3))
	}
	rec := testsupport.NewRecorder(t, s3.URL())
	acts.Store, err = artifacts.New(ctx, artifacts.Config{UsePathStyle: true}, artifacts.WithEndpoint(rec.URL),
		artifacts.WithStaticCredentials(s3local.AccessKeyID, s3local.SecretAccessKey, ""), artifacts.WithRegion(s3local.Region))
	require.NoError(t, err)
	acts.Allowed, err = artifacts.ParseAllowlist(allowed)
	require.NoError(t, err)
	return acts, rec
}

func artifactAt(field, key string) descriptor.Artifact {
	return descriptor.Artifact{Role: descriptor.RoleDependency, Field: field, Location: descriptor.S3Location{Bucket: "artifacts", Key: key}}
}

// An artifact outside the allowlist is a problem of its field and is never asked of S3; the
// allowed ones are checked as usual, so every problem comes in one answer.
func TestAnArtifactOutsideTheAllowlistIsRefusedWithoutAnyS3Request(t *testing.T) {
	acts, s3 := allowlistFixture(t, "s3://artifacts/{domain}/{dataProduct}/", "finance/cashflow/app.jar", "hr/payroll/secret.jar")
	in := activities.ArtifactsInput{
		Artifacts: []descriptor.Artifact{artifactAt("specific.jar", "finance/cashflow/app.jar"), artifactAt("specific.jobConfig.dependencies[0]", "hr/payroll/secret.jar")},
		Scope:     artifacts.Scope{Domain: "finance", DataProduct: "cashflow", Environment: "development"},
	}
	val, err := activityEnv(t, acts).ExecuteActivity(acts.CheckArtifactsIn, in)
	require.NoError(t, err)
	var check activities.ArtifactsCheck
	require.NoError(t, val.Get(&check))
	require.Len(t, check.Problems, 1)
	p := check.Problems[0]
	assert.Equal(t, "specific.jobConfig.dependencies[0]", p.Field)
	assert.Contains(t, p.Message, "s3://artifacts/hr/payroll/secret.jar")
	assert.Contains(t, p.Message, "s3://artifacts/finance/cashflow/", "the allowed prefixes, expanded")
	assert.Contains(t, p.Solution, "S3_ALLOWED_PREFIXES")
	require.Len(t, check.Objects, 1)
	assert.Equal(t, "finance/cashflow/app.jar", check.Objects[0].Artifact.Location.Key)
	for _, r := range s3.Seen() {
		assert.NotContains(t, r, "hr/payroll", "the refused artifact was asked of S3")
	}
	assert.NotEmpty(t, s3.Seen(), "the allowed one was checked")
}

// Runs of the first releases check without their data product: a templated entry allows them
// nothing, a plain one applies.
func TestTheFirstReleasesCheckMatchesOnlyPlainEntries(t *testing.T) {
	acts, s3 := allowlistFixture(t, "s3://artifacts/{domain}/{dataProduct}/,s3://artifacts/shared/", "finance/cashflow/app.jar", "shared/lib.jar")
	val, err := activityEnv(t, acts).ExecuteActivity(acts.CheckArtifacts,
		[]descriptor.Artifact{artifactAt("specific.jar", "finance/cashflow/app.jar"), artifactAt("specific.jobConfig.dependencies[0]", "shared/lib.jar")})
	require.NoError(t, err)
	var check activities.ArtifactsCheck
	require.NoError(t, val.Get(&check))
	require.Len(t, check.Problems, 1)
	assert.Equal(t, "specific.jar", check.Problems[0].Field)
	require.Len(t, check.Objects, 1)
	for _, r := range s3.Seen() {
		assert.NotContains(t, r, "finance/cashflow")
	}
}

func TestWithoutAnAllowlistEveryArtifactIsChecked(t *testing.T) {
	acts, _ := allowlistFixture(t, "", "hr/payroll/secret.jar")
	val, err := activityEnv(t, acts).ExecuteActivity(acts.CheckArtifactsIn, activities.ArtifactsInput{
		Artifacts: []descriptor.Artifact{artifactAt("specific.jar", "hr/payroll/secret.jar")},
		Scope:     artifacts.Scope{Domain: "finance", DataProduct: "cashflow"},
	})
	require.NoError(t, err)
	var check activities.ArtifactsCheck
	require.NoError(t, val.Get(&check))
	assert.Empty(t, check.Problems)
	assert.Len(t, check.Objects, 1)
}
