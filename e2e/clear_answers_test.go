package e2e_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
)

// Clear answers instead of 500s: an artifact S3 refuses to show, a datalake without idbroker
// hosts and an ambiguous CDE service name. Each test has its own bucket, services and datalake,
// and removes the faults it injects.

const jarField = "dataProduct.components[1].specific.jar"

// forbiddenBucket creates a bucket of the test's own holding the example's jar under app.jar,
// and returns the descriptor of component name reading its jar from there.
func forbiddenBucket(t *testing.T, name string) (bucket, text string) {
	t.Helper()
	ctx := context.Background()
	bucket = "forbidden-" + strings.ReplaceAll(name, "_", "-")
	require.NoError(t, st.s3.CreateBucket(ctx, bucket))
	require.NoError(t, st.s3.Put(ctx, bucket, "app.jar", strings.NewReader("not really a jar"), 16))
	text = strings.Replace(sparkJar(t, name), "jar: s3://artifacts/finance/cashflow/0.0.0/spark-app-0.0.0.jar", "jar: s3://"+bucket+"/app.jar", 1)
	require.Contains(t, text, "s3://"+bucket+"/app.jar")
	return bucket, text
}

func TestClearAnswersForbiddenArtifactIsAValidationProblem(t *testing.T) {
	srv := newAPI(t, nil)
	name := unique("forbidden")
	bucket, text := forbiddenBucket(t, name)
	t.Cleanup(st.s3.Deny(s3local.Denial{Bucket: bucket, Key: "app.jar", Action: s3local.ActionGetObject}))

	// Validate: valid false, the problem at the jar's field, naming the object and the permissions.
	a := call(t, http.MethodPost, srv.URL+"/v1/validate", request(text))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	var res api.ValidationResult
	a.decode(t, &res)
	require.False(t, res.Valid, "%s", a.body)
	require.Len(t, res.Error.Errors, 1, "%s", a.body)
	msg := res.Error.Errors[0]
	assert.True(t, strings.HasPrefix(msg, "Job Source application file not readable: S3 denied access to s3://"+bucket+"/app.jar (403 AccessDenied)"), msg)
	assert.Contains(t, msg, "s3:GetObject")
	assert.Contains(t, msg, "s3:ListBucket")
	assert.Contains(t, msg, "cannot be told apart")
	assert.Equal(t, jarField, res.Error.InputErrorField)
	require.NotNil(t, res.Error.MoreInfo)
	assert.Contains(t, strings.Join(res.Error.MoreInfo.Solutions, " "), "s3:GetObject on arn:aws:s3:::"+bucket+"/app.jar")

	// Provision: refused with a 400 that carries the same problem, never a 500.
	a = call(t, http.MethodPost, srv.URL+"/v1/provision", request(text))
	require.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
	var body api.RequestValidationError
	a.decode(t, &body)
	require.Equal(t, []string{msg}, body.Errors)
	assert.Equal(t, jarField, body.InputErrorField)
	_, err := st.sim.Job(vcID(t), jobName(name))
	assert.ErrorIs(t, err, cdesim.ErrNotFound, "nothing was deployed")
}

func TestClearAnswersForbiddenMissingKeyWithoutListBucket(t *testing.T) {
	srv := newAPI(t, nil)
	name := unique("forbidden-missing")
	bucket, text := forbiddenBucket(t, name)
	t.Cleanup(st.s3.Deny(s3local.Denial{Bucket: bucket, Action: s3local.ActionListBucket}))
	text = strings.Replace(text, "s3://"+bucket+"/app.jar", "s3://"+bucket+"/missing.jar", 1)

	msg := oneValidationProblem(t, srv.URL, text)
	assert.True(t, strings.HasPrefix(msg, "Job Source application file not readable: S3 denied access to s3://"+bucket+"/missing.jar"), msg)
	assert.Contains(t, msg, "403 instead of 404 for a missing key")

	a := call(t, http.MethodPost, srv.URL+"/v1/provision", request(text))
	require.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
	var body api.RequestValidationError
	a.decode(t, &body)
	require.Len(t, body.Errors, 1, "%s", a.body)
	assert.Equal(t, msg, body.Errors[0])
}

func TestClearAnswersIDBrokerWithoutIPsDeploysWithoutTheConf(t *testing.T) {
	srv := newAPI(t, nil)
	ctx := context.Background()
	tests := []struct {
		name   string
		groups []cdesim.InstanceGroupSeed
	}{
		{"an idbroker group without private IPs", []cdesim.InstanceGroupSeed{
			{Name: "master", Instances: []cdesim.InstanceSeed{{PrivateIP: "10.20.0.1"}}},
			{Name: "idbroker", Instances: []cdesim.InstanceSeed{{DiscoveryFQDN: "idbroker0.example", State: "STOPPED"}}},
		}},
		{"no idbroker group", []cdesim.InstanceGroupSeed{{Name: "master", Instances: []cdesim.InstanceSeed{{PrivateIP: "10.20.0.2"}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := unique("noidb")
			envName := "env-" + name
			envCRN := "crn:cdp:environments:us-west-1:e2e:environment:" + envName
			service := "cde-" + name
			_, err := st.sim.AddService(ctx, cdesim.ServiceSeed{Name: service, EnvironmentName: envName, EnvironmentCRN: envCRN,
				VirtualClusters: []cdesim.VCSeed{{Name: "vc-dev"}}})
			require.NoError(t, err)
			st.sim.AddDatalake(cdesim.DatalakeSeed{Name: "dl-" + name, EnvironmentName: envName, EnvironmentCRN: envCRN, InstanceGroups: tt.groups})

			a := call(t, http.MethodPost, srv.URL+"/v1/provision", request(at(name, service, "vc-dev")))
			require.Equal(t, http.StatusOK, a.status, "%s", a.body)
			var status api.ProvisioningStatus
			a.decode(t, &status)
			assert.Equal(t, api.StatusCompleted, status.Status)
			assert.NotContains(t, status.Info.PrivateInfo, "idBrokerHosts")
			var warning bool
			for _, l := range status.Logs {
				warning = warning || l.Level == "WARNING" && strings.Contains(l.Message, "No idbroker host known") && strings.Contains(l.Message, "deployed without spark.cde.idBrokerHosts")
			}
			assert.True(t, warning, "the provision's logs say it: %s", logMessages(status))

			vc, ok := st.sim.VC(service, "vc-dev")
			require.True(t, ok)
			stored, err := st.sim.Job(vc.VCID, jobName(name))
			require.NoError(t, err)
			var job map[string]any
			require.NoError(t, json.Unmarshal(stored, &job))
			conf := job["spark"].(map[string]any)["conf"].(map[string]any)
			assert.NotContains(t, conf, "spark.cde.idBrokerHosts")
			assert.Equal(t, "64", conf["spark.sql.shuffle.partitions"], "the rest of the conf is there")

			// The worker says why, as a warning.
			var warned bool
			for line := range strings.Lines(st.logs.String()) {
				if strings.Contains(line, "No idbroker host in the environment's datalake") && strings.Contains(line, envCRN) {
					warned = true
					assert.Contains(t, line, `"level":"WARN"`)
				}
			}
			assert.True(t, warned, "the worker logged a warning for %s", envCRN)
		})
	}
}

func TestClearAnswersAmbiguousServiceNameIsRefused(t *testing.T) {
	srv := newAPI(t, nil)
	ctx := context.Background()
	name := unique("ambiguous")
	service := "cde-twin-" + name
	for _, env := range []string{"env-east-" + name, "env-west-" + name} {
		_, err := st.sim.AddService(ctx, cdesim.ServiceSeed{Name: service, EnvironmentName: env,
			EnvironmentCRN: "crn:cdp:environments:us-west-1:e2e:environment:" + env, VirtualClusters: []cdesim.VCSeed{{Name: "vc-dev"}}})
		require.NoError(t, err)
	}
	text := at(name, service, "vc-dev")

	a := call(t, http.MethodPost, srv.URL+"/v1/validate", request(text))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	var res api.ValidationResult
	a.decode(t, &res)
	require.False(t, res.Valid, "%s", a.body)
	require.Len(t, res.Error.Errors, 1, "one problem for the service, none for the cluster: %s", a.body)
	msg := res.Error.Errors[0]
	assert.True(t, strings.HasPrefix(msg, `CDE Service name is ambiguous: 2 live CDE services are named "`+service+`"`), msg)
	for _, env := range []string{"env-east-" + name, "env-west-" + name} {
		assert.Contains(t, msg, "environment "+env+" (crn:cdp:environments:us-west-1:e2e:environment:"+env+")")
	}
	assert.Equal(t, "dataProduct.components[1].specific.cdeService", res.Error.InputErrorField)

	st.sim.ResetRequests()
	a = call(t, http.MethodPost, srv.URL+"/v1/provision", request(text))
	require.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
	var body api.RequestValidationError
	a.decode(t, &body)
	require.Equal(t, []string{msg}, body.Errors)
	assert.Equal(t, "dataProduct.components[1].specific.cdeService", body.InputErrorField)
	for _, r := range st.sim.Requests() {
		assert.False(t, strings.HasPrefix(r.Target, "vc:") && r.Method != http.MethodGet, "nothing was written to a virtual cluster: %+v", r)
	}
}
