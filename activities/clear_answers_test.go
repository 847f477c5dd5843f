package activities_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
)

// loggedEnv is an activity environment whose activity logs land in the returned buffer.
func loggedEnv(t *testing.T, acts *activities.Activities) (*testsuite.TestActivityEnvironment, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	var s testsuite.WorkflowTestSuite
	s.SetLogger(log.NewStructuredLogger(slog.New(slog.NewJSONHandler(&buf, nil))))
	env := s.NewTestActivityEnvironment()
	env.RegisterActivity(acts)
	return env, &buf
}

// withLocalS3 gives acts a store on a fresh local S3 holding app.jar and lib.jar in bucket b.
func withLocalS3(t *testing.T, acts *activities.Activities, bucket string) *s3local.Server {
	t.Helper()
	ctx := context.Background()
	srv, err := s3local.Start(ctx, s3local.Options{Buckets: []string{bucket}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	for _, k := range []string{"app.jar", "lib.jar"} {
		require.NoError(t, srv.Put(ctx, bucket, k, strings.NewReader(k), int64(len(k))))
	}
	acts.Store = newStoreAt(t, srv.URL())
	return srv
}

func newStoreAt(t *testing.T, url string) *artifacts.Store {
	t.Helper()
	store, err := artifacts.New(context.Background(), artifacts.Config{UsePathStyle: true}, artifacts.WithEndpoint(url),
		artifacts.WithStaticCredentials(s3local.AccessKeyID, s3local.SecretAccessKey, ""), artifacts.WithRegion(s3local.Region),
		artifacts.WithRetryMaxAttempts(1))
	require.NoError(t, err)
	return store
}

func jarArtifacts(bucket string, keys ...string) []descriptor.Artifact {
	arts := []descriptor.Artifact{{Role: descriptor.RoleApplication, Field: "dataProduct.components[0].specific.jar",
		Location: descriptor.S3Location{Bucket: bucket, Key: keys[0]}}}
	for i, k := range keys[1:] {
		arts = append(arts, descriptor.Artifact{Role: descriptor.RoleDependency, Field: fmt.Sprintf("dataProduct.components[0].specific.jobConfig.dependencies[%d]", i),
			Location: descriptor.S3Location{Bucket: bucket, Key: k}})
	}
	return arts
}

func checkArtifacts(t *testing.T, env *testsuite.TestActivityEnvironment, acts *activities.Activities, arts []descriptor.Artifact) activities.ArtifactsCheck {
	t.Helper()
	val, err := env.ExecuteActivity(acts.CheckArtifacts, arts)
	require.NoError(t, err)
	var check activities.ArtifactsCheck
	require.NoError(t, val.Get(&check))
	return check
}

func TestCheckArtifactsForbiddenIsAProblemOfTheArtifactsField(t *testing.T) {
	acts, _ := newActivities(t)
	srv := withLocalS3(t, acts, "forbidden-bucket")
	env, logs := loggedEnv(t, acts)

	t.Run("s3:GetObject denied on the object", func(t *testing.T) {
		defer srv.Deny(s3local.Denial{Bucket: "forbidden-bucket", Key: "lib.jar", Action: s3local.ActionGetObject})()
		check := checkArtifacts(t, env, acts, jarArtifacts("forbidden-bucket", "app.jar", "lib.jar"))
		require.Len(t, check.Problems, 1)
		p := check.Problems[0]
		assert.Equal(t, "dataProduct.components[0].specific.jobConfig.dependencies[0]", p.Field)
		assert.True(t, strings.HasPrefix(p.Message, "Job Source dependency not readable: S3 denied access to s3://forbidden-bucket/lib.jar (403 AccessDenied): "), p.Message)
		assert.Contains(t, p.Message, "lacks s3:GetObject on the object, or the object does not exist and the role lacks s3:ListBucket on bucket forbidden-bucket")
		assert.Contains(t, p.Message, "cannot be told apart")
		assert.Contains(t, p.Solution, "s3:GetObject on arn:aws:s3:::forbidden-bucket/lib.jar and s3:ListBucket on arn:aws:s3:::forbidden-bucket")
		require.Len(t, check.Objects, 1, "the readable artifact is still checked")
		assert.Equal(t, "app.jar", check.Objects[0].Artifact.Location.Key)
		assert.Contains(t, logs.String(), "S3 denied access to an artifact")
	})

	t.Run("a missing key without s3:ListBucket", func(t *testing.T) {
		defer srv.Deny(s3local.Denial{Bucket: "forbidden-bucket", Action: s3local.ActionListBucket})()
		check := checkArtifacts(t, env, acts, jarArtifacts("forbidden-bucket", "gone.jar", "lib.jar"))
		require.Len(t, check.Problems, 1)
		p := check.Problems[0]
		assert.Equal(t, "dataProduct.components[0].specific.jar", p.Field)
		assert.True(t, strings.HasPrefix(p.Message, "Job Source application file not readable: S3 denied access to s3://forbidden-bucket/gone.jar"), p.Message)
		assert.Contains(t, p.Message, "s3:ListBucket")
	})

	t.Run("S3 names the action it refused", func(t *testing.T) {
		defer srv.Deny(s3local.Denial{Bucket: "forbidden-bucket", Action: s3local.ActionListBucket,
			Message: s3local.NotAuthorizedMessage("arn:aws:sts::111122223333:assumed-role/worker/i-0", s3local.ActionListBucket, "arn:aws:s3:::forbidden-bucket")})()
		check := checkArtifacts(t, env, acts, jarArtifacts("forbidden-bucket", "gone.jar"))
		require.Len(t, check.Problems, 1)
		assert.Contains(t, check.Problems[0].Message, "S3 says the provisioner worker's role lacks s3:ListBucket on bucket forbidden-bucket")
		assert.Contains(t, check.Problems[0].Message, "most likely does not exist")
		assert.NotContains(t, check.Problems[0].Message, "111122223333", "the caller's ARN stays in the worker's logs")
	})

	t.Run("without faults every artifact is found", func(t *testing.T) {
		check := checkArtifacts(t, env, acts, jarArtifacts("forbidden-bucket", "app.jar", "lib.jar"))
		assert.Empty(t, check.Problems)
		assert.Len(t, check.Objects, 2)
	})
}

func TestCheckArtifactsFailuresThatAreNoProblemOfTheDescriptor(t *testing.T) {
	acts, _ := newActivities(t)
	answer := func(status int, code string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead {
				w.WriteHeader(status)
				return
			}
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(status)
			fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>no</Message><RequestId>R</RequestId></Error>`, code)
		}
	}
	tests := []struct {
		name          string
		handler       http.HandlerFunc
		wantType      string
		wantRetryable bool
		wantInMessage string
	}{
		{"the worker's credentials refused", answer(http.StatusForbidden, "SignatureDoesNotMatch"), activities.ErrTypeS3, false, "S3 refused the worker's credentials"},
		{"a 503 is retried", answer(http.StatusServiceUnavailable, "SlowDown"), activities.ErrTypeTransient, true, "503"},
		{"a 500 is retried", answer(http.StatusInternalServerError, "InternalError"), activities.ErrTypeTransient, true, "500"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler) // 127.0.0.1
			t.Cleanup(srv.Close)
			acts.Store = newStoreAt(t, srv.URL)
			env := activityEnv(t, acts)
			_, err := env.ExecuteActivity(acts.CheckArtifacts, jarArtifacts("artifacts", "app.jar"))
			var appErr *temporal.ApplicationError
			require.True(t, errors.As(err, &appErr), "%v", err)
			assert.Equal(t, tt.wantType, appErr.Type())
			assert.Equal(t, !tt.wantRetryable, appErr.NonRetryable())
			assert.Contains(t, err.Error(), tt.wantInMessage)
		})
	}
}

func TestResolveTargetRefusesAnAmbiguousServiceName(t *testing.T) {
	acts, sim := newActivities(t)
	env := activityEnv(t, acts)
	ctx := context.Background()
	var ids []string
	for _, e := range []string{"env-east", "env-west"} {
		info, err := sim.AddService(ctx, cdesim.ServiceSeed{Name: "cde-twin", EnvironmentName: e,
			EnvironmentCRN: "crn:cdp:environments:us-west-1:t:environment:" + e, VirtualClusters: []cdesim.VCSeed{{Name: "vc-dev"}}})
		require.NoError(t, err)
		ids = append(ids, info.ClusterID)
	}
	_, err := sim.AddService(ctx, cdesim.ServiceSeed{Name: "cde-twin", EnvironmentName: "env-gone", Status: cdesim.StatusServiceDeleted})
	require.NoError(t, err)

	val, err := env.ExecuteActivity(acts.ResolveTarget, activities.ResolveInput{Service: "cde-twin", Cluster: "vc-dev", ServiceField: "svc", ClusterField: "vc"})
	require.NoError(t, err, "an ambiguous name is an answer, not a failure")
	var res activities.Resolution
	require.NoError(t, val.Get(&res))
	assert.True(t, res.Ambiguous)
	require.Len(t, res.Problems, 1)
	p := res.Problems[0]
	assert.Equal(t, "svc", p.Field)
	assert.Equal(t, activities.ServiceAmbiguous.Solution, p.Solution)
	assert.Equal(t, `CDE Service name is ambiguous: 2 live CDE services are named "cde-twin", in different CDP environments: `+
		"environment env-east (crn:cdp:environments:us-west-1:t:environment:env-east): service "+ids[0]+", ClusterCreationCompleted; "+
		"environment env-west (crn:cdp:environments:us-west-1:t:environment:env-west): service "+ids[1]+", ClusterCreationCompleted", p.Message)
	assert.Empty(t, res.Target.ServiceID, "no service was picked")

	// A describeService failing leaves the CRN out, not the problem.
	sim.FailNext("POST /api/v1/de/describeService", -1, cdesim.Failure{Status: http.StatusInternalServerError})
	val, err = env.ExecuteActivity(acts.ResolveTarget, activities.ResolveInput{Service: "cde-twin", Cluster: "vc-dev", ServiceField: "svc"})
	require.NoError(t, err)
	res = activities.Resolution{}
	require.NoError(t, val.Get(&res))
	require.Len(t, res.Problems, 1)
	assert.Contains(t, res.Problems[0].Message, "environment env-east: service "+ids[0])
}

func TestIDBrokerHostsOfADatalakeWithoutIdbrokerIPs(t *testing.T) {
	acts, sim := newActivities(t)
	env, logs := loggedEnv(t, acts)
	sim.AddDatalake(cdesim.DatalakeSeed{Name: "dl-no-ips", EnvironmentCRN: "crn:env-no-ips", InstanceGroups: []cdesim.InstanceGroupSeed{
		{Name: "idbroker", Instances: []cdesim.InstanceSeed{{DiscoveryFQDN: "idb0.example"}}}}})
	sim.AddDatalake(cdesim.DatalakeSeed{Name: "dl-no-group", EnvironmentCRN: "crn:env-no-group", InstanceGroups: []cdesim.InstanceGroupSeed{
		{Name: "master", Instances: []cdesim.InstanceSeed{{PrivateIP: "10.1.1.1"}}}}})

	for _, crn := range []string{"crn:env-no-ips", "crn:env-no-group"} {
		t.Run(crn, func(t *testing.T) {
			logs.Reset()
			val, err := env.ExecuteActivity(acts.IDBrokerHosts, activities.Target{ServiceName: "cde-x", EnvironmentCRN: crn})
			require.NoError(t, err, "the job is deployed without the conf, as the reference does")
			var hosts []string
			require.NoError(t, val.Get(&hosts))
			assert.Empty(t, hosts)
			assert.Contains(t, logs.String(), `"level":"WARN"`)
			assert.Contains(t, logs.String(), "No idbroker host in the environment's datalake: the job is deployed without spark.cde.idBrokerHosts")
			assert.Contains(t, logs.String(), crn)
		})
	}

	// No datalake at all for the environment stays a failure: CDP has no such environment.
	_, err := env.ExecuteActivity(acts.IDBrokerHosts, activities.Target{ServiceName: "cde-x", EnvironmentCRN: "crn:env-none"})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.True(t, appErr.NonRetryable())

	// A CDP outage is retried, never taken for "no idbroker".
	sim.FailNext("POST /api/v1/datalake/describeDatalake", -1, cdesim.Failure{Status: http.StatusServiceUnavailable})
	_, err = env.ExecuteActivity(acts.IDBrokerHosts, activities.Target{ServiceName: "cde-x", EnvironmentCRN: "crn:env-no-ips"})
	require.True(t, errors.As(err, &appErr), "%v", err)
	assert.Equal(t, activities.ErrTypeTransient, appErr.Type())
}
