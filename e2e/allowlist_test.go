package e2e_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/app"
	"github.com/witboost-community/cde-spark-provisioner/internal/testsupport"
)

// A worker with S3_ALLOWED_PREFIXES=s3://artifacts/{domain}/{dataProduct}/ provisions a data
// product's own artifacts, and refuses (400) another team's, which it never reads from S3 nor
// uploads: its S3 requests pass through a recording proxy.
func TestTheArtifactAllowlistKeepsEachDataProductToItsOwnPrefix(t *testing.T) {
	ctx := context.Background()
	s3 := testsupport.NewRecorder(t, st.s3.URL())

	cfg := st.workerCf
	cfg.Temporal.TaskQueue = "e2e-allowlist"
	cfg.S3AllowedPrefixes = "s3://artifacts/{domain}/{dataProduct}/"
	acts, err := app.NewActivitiesWith(ctx, cfg, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: st.sim.CertPool()}}, nil,
		artifacts.WithEndpoint(s3.URL), artifacts.WithRegion("us-east-1"), artifacts.WithStaticCredentials("e2e-access-key", "e2e-secret-key", ""))
	require.NoError(t, err)
	w := app.NewWorker(st.tc, cfg, acts)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	srv := newAPI(t, func(c *app.APIConfig) { c.Temporal.TaskQueue = cfg.Temporal.TaskQueue })

	// The example's artifacts are under s3://artifacts/finance/cashflow/: provisioned.
	own := unique("allowed")
	status := provision(t, srv.URL, sparkJar(t, own))
	assert.Equal(t, api.StatusCompleted, status.Status)

	// Another team's jar, which the worker's role can read.
	const foreign = "hr/payroll/1.0.0/payroll-secrets.jar"
	putS3(t, foreign, "hr's code")
	other := unique("foreign")
	text := strings.Replace(sparkJar(t, other), "s3://artifacts/finance/cashflow/0.0.0/spark-app-0.0.0.jar", "s3://artifacts/"+foreign, 1)
	require.Contains(t, text, foreign)
	s3.Reset()
	a := call(t, http.MethodPost, srv.URL+"/v1/provision", request(text))
	require.Equal(t, http.StatusBadRequest, a.status, "%s", a.body)
	var refused api.RequestValidationError
	a.decode(t, &refused)
	require.Len(t, refused.Errors, 1, "%s", a.body)
	assert.Contains(t, refused.Errors[0], "s3://artifacts/"+foreign)
	assert.Contains(t, refused.Errors[0], "s3://artifacts/finance/cashflow/")
	require.NotNil(t, refused.MoreInfo)
	assert.Contains(t, strings.Join(refused.MoreInfo.Solutions, " "), "S3_ALLOWED_PREFIXES")

	for _, r := range s3.Seen() {
		assert.NotContains(t, r, "hr/payroll", "the foreign jar was asked of S3")
	}
	mainRes := descriptor.MainResourceName(jobName(other))
	_, ok := st.sim.FileBytes(vcID(t), mainRes, "payroll-secrets.jar")
	assert.False(t, ok, "the foreign jar was not uploaded")
	_, err = st.sim.Job(vcID(t), jobName(other))
	assert.Error(t, err, "no job for the refused component")
}
