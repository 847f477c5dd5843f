package e2e_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/app"
)

// A worker killed (SIGKILL: no goodbye to Temporal) while it uploads is replaced by another;
// the provision finishes with one job and one resource, and the file the dead worker had
// uploaded and heartbeated is not sent again.
func TestAWorkerKilledDuringAnUploadIsReplacedWithoutDuplicates(t *testing.T) {
	const queue = "e2e-crash"
	name := unique("crash")
	job := jobName(name)
	mainRes := descriptor.MainResourceName(job)
	dep := "delta-core_2.12-2.4.0.jar"

	// Worker A: the real cmd/worker binary, uploading one file at a time.
	bin := filepath.Join(t.TempDir(), "worker")
	build := exec.Command("go", "build", "-o", bin, "../cmd/worker")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, st.sim.WriteCA(ca))
	workerA := exec.Command(bin)
	workerA.Env = append(os.Environ(), st.s3.Env()...)
	workerA.Env = append(workerA.Env,
		"TEMPORAL_ADDRESS="+st.temporalAddr, "TEMPORAL_NAMESPACE=default", "TEMPORAL_TASK_QUEUE="+queue,
		"CDP_ENDPOINT_URL="+st.sim.ControlPlaneURL(), "CDP_ACCESS_KEY_ID="+cdesim.DemoAccessKeyID,
		"CDP_PRIVATE_KEY="+cdesim.DemoPrivateKey, "CDP_DEPLOY_ROLE_USER="+cdesim.DemoUser,
		"CDP_DEPLOY_ROLE_PASSWORD="+cdesim.DemoPassword, "SSL_CERT_FILE="+ca, "UPLOAD_CONCURRENCY=1", "LOG_LEVEL=error")
	require.NoError(t, workerA.Start())
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = workerA.Process.Kill()
		}
		_ = workerA.Wait()
	})

	// The dependency's upload hangs, after the jar's went through.
	release := st.sim.Block("PUT /dex/api/v1/resources/" + mainRes + "/" + dep)
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	st.sim.ResetRequests()

	srv := newAPI(t, func(c *app.APIConfig) {
		c.Temporal.TaskQueue = queue
		c.SyncTimeout = 200 * time.Millisecond
	})
	a := call(t, http.MethodPost, srv.URL+"/v1/provision", request(sparkJar(t, name)))
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	token := string(a.body)
	id, runID, err := api.DecodeToken(token)
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, st.sim.AwaitBlocked(ctx, 1))
	// Temporal has the heartbeat saying the jar is done.
	require.Eventually(t, func() bool {
		desc, err := st.tc.DescribeWorkflowExecution(ctx, id, runID)
		require.NoError(t, err)
		for _, pa := range desc.PendingActivities {
			if pa.GetHeartbeatDetails() != nil && strings.Contains(pa.GetHeartbeatDetails().String(), "spark-app-0.0.0.jar") {
				return true
			}
		}
		return false
	}, time.Minute, 100*time.Millisecond)

	require.NoError(t, workerA.Process.Signal(syscall.SIGKILL))
	killed = true
	_ = workerA.Wait()
	release()
	released = true

	// Worker B takes over once Temporal notices A's heartbeats stopped.
	cfg := st.workerCf
	cfg.Temporal.TaskQueue = queue
	workerB := app.NewWorker(st.tc, cfg, st.acts)
	require.NoError(t, workerB.Start())
	defer workerB.Stop()

	var status api.ProvisioningStatus
	require.Eventually(t, func() bool {
		a = call(t, http.MethodGet, srv.URL+"/v1/provision/"+token+"/status", nil)
		status = api.ProvisioningStatus{}
		a.decode(t, &status)
		return status.Status != api.StatusRunning
	}, 2*time.Minute, 250*time.Millisecond)
	require.Equal(t, api.StatusCompleted, status.Status, "%s", a.body)

	jarPuts, jobPosts := 0, 0
	for _, r := range st.sim.Requests() {
		if r.Method == http.MethodPut && strings.HasSuffix(r.Path, "/"+mainRes+"/spark-app-0.0.0.jar") {
			jarPuts++
		}
		if r.Method == http.MethodPost && r.Path == "/dex/api/v1/jobs" {
			jobPosts++
		}
	}
	assert.Equal(t, 1, jarPuts, "the jar uploaded before the crash is not sent again")
	assert.LessOrEqual(t, jobPosts, 1, "one job creation")
	_, err = st.sim.Job(vcID(t), job)
	require.NoError(t, err)
	for _, f := range []string{"spark-app-0.0.0.jar", dep} {
		_, ok := st.sim.FileBytes(vcID(t), mainRes, f)
		assert.True(t, ok, f)
	}
}
