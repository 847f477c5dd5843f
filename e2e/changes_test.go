package e2e_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/app"
)

// A re-provision says what it changed: each job field old → new (a secret's value masked), the
// files uploaded and unchanged, and a summary in privateInfo; the job as sent is recorded beside
// it in CDE (the desired state).
func TestAReprovisionSaysWhatChanged(t *testing.T) {
	srv := newAPI(t, func(c *app.APIConfig) { c.DedupeWindow = 0 })
	name := unique("changes")
	job := jobName(name)
	const secretKey = "spark.hadoop.fs.s3a.secret.key"
	const firstSecret, secondSecret = "first-secret-value-4711", "second-secret-value-0815"
	const oldDep = "s3://artifacts/finance/cashflow/0.0.0/libs/delta-core_2.12-2.4.0.jar"
	newDepKey := "finance/cashflow/0.0.0/libs/" + name + "-extra.jar"
	putS3(t, newDepKey, "the new dependency of "+name)

	base := sparkJar(t, name)
	withSecret := func(text, secret string) string {
		return strings.Replace(text, `spark.sql.shuffle.partitions: "64"`,
			`spark.sql.shuffle.partitions: "64"`+"\n            "+secretKey+`: "`+secret+`"`, 1)
	}
	first := withSecret(base, firstSecret)
	status := provision(t, srv.URL, first)
	require.Equal(t, api.StatusCompleted, status.Status, "%+v", status)
	logs := logMessages(status)
	assert.Contains(t, logs, "Created job "+job)
	assert.Contains(t, status.Info.PrivateInfo["changes"], "job created; files: 2 uploaded, 0 unchanged, 0 removed")

	second := withSecret(base, secondSecret)
	second = strings.Replace(second, "driverMemory: 2g", "driverMemory: 3g", 1)
	second = strings.Replace(second, `spark.sql.shuffle.partitions: "64"`, `spark.sql.shuffle.partitions: "128"`, 1)
	second = strings.Replace(second, oldDep, "s3://artifacts/"+newDepKey, 1)
	a := call(t, http.MethodPost, srv.URL+"/v1/provision", request(second))
	require.Equal(t, http.StatusOK, a.status, "%s", a.body)
	var status2 api.ProvisioningStatus
	a.decode(t, &status2)
	require.Equal(t, api.StatusCompleted, status2.Status, "%s", a.body)
	logs = logMessages(status2)
	for _, want := range []string{
		"Changed spark.driverMemory of job " + job + ": 2g → 3g",
		`Changed spark.conf.spark.sql.shuffle.partitions of job ` + job + `: "64" → "128"`,
		"Changed spark.conf." + secretKey + " of job " + job + ": (masked) → (masked)",
		"Changed spark.jars of job " + job + ": [delta-core_2.12-2.4.0.jar] → [" + name + "-extra.jar]",
		"Uploaded s3://artifacts/" + newDepKey + " to resource " + descriptor.MainResourceName(job) + " as " + name + "-extra.jar",
		"spark-app-0.0.0.jar is unchanged in resource " + descriptor.MainResourceName(job) + ": not uploaded",
		"Removed delta-core_2.12-2.4.0.jar from resource " + descriptor.MainResourceName(job),
	} {
		assert.Contains(t, logs, want)
	}
	assert.Equal(t, "job updated: spark.driverMemory, spark.jars, spark.conf."+secretKey+", spark.conf.spark.sql.shuffle.partitions; "+
		"files: 1 uploaded, 1 unchanged, 1 removed", status2.Info.PrivateInfo["changes"])
	for _, secret := range []string{firstSecret, secondSecret} {
		assert.NotContains(t, string(a.body), secret, "no secret in the answer")
		assert.NotContains(t, st.logs.String(), secret, "no secret in the logs")
	}

	// The desired state beside the job is the job as sent, the new secret included (it stays in CDE).
	svc, ok := st.sim.Service(cdesim.DemoService)
	require.True(t, ok)
	jobs, err := cde.NewJobsClient(status2.Info.PrivateInfo["vcApiUrl"], st.acts.Tokens.ForHost(svc.ClusterFqdn), st.acts.HTTP)
	require.NoError(t, err)
	state, found, err := activities.ReadDesiredState(context.Background(), jobs, job)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, job, state.JobName)
	assert.Equal(t, "3g", state.Job.Spark.DriverMemory)
	assert.Equal(t, secondSecret, state.Job.Spark.Conf[secretKey])

	// Provisioned again unchanged: nothing to say but that.
	status = provision(t, srv.URL, second)
	require.Equal(t, api.StatusCompleted, status.Status, "%+v", status)
	assert.Contains(t, logMessages(status), "Job "+job+" was already up to date: no field changed")
	assert.Equal(t, "job unchanged; files: 0 uploaded, 2 unchanged, 0 removed", status.Info.PrivateInfo["changes"])
}
