package e2e_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/witboost-community/cde-spark-provisioner/api"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/app"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// recordHistories is where TestEveryPathRecordsAHistoryThatReplays writes the histories it
// records (make histories); empty, it only checks that they replay.
var recordHistories = flag.String("record-histories", "", "directory to write the recorded workflow histories to (make histories)")

// historyPath is one path through the workflows whose history the replay test keeps: run drives
// the API (and the simulator) and returns the workflow id and run id of the run to record.
type historyPath struct {
	name string
	run  func(t *testing.T, url string) (id, runID string)
}

// TestEveryPathRecordsAHistoryThatReplays runs every path of the workflows through the real
// stack (API, dev server, worker, CDE simulator, local S3), fetches each run's history from
// Temporal and replays it against the workflow code. With -record-histories=DIR it also writes
// them there: `make histories` keeps them under workflows/testdata/histories/<version>/, where
// workflows/replay_test.go replays every version's histories on each `make test`.
func TestEveryPathRecordsAHistoryThatReplays(t *testing.T) {
	srv := newAPI(t, func(c *app.APIConfig) {
		c.DedupeWindow = 0 // a redeploy is a run of its own, not the previous run's answer
	})
	jar := unique("hist-jar")
	jarText := sparkJar(t, jar)
	ctx := context.Background()

	paths := []historyPath{
		{"jar-provision", func(t *testing.T, url string) (string, string) {
			return mutation(t, url, "provision", jarText, http.StatusOK)
		}},
		{"unchanged-redeploy", func(t *testing.T, url string) (string, string) {
			return mutation(t, url, "provision", jarText, http.StatusOK)
		}},
		{"pyspark", func(t *testing.T, url string) (string, string) {
			return mutation(t, url, "provision", example(t, "pyspark.yaml", "scoring", unique("hist-py")), http.StatusOK)
		}},
		{"pyspark-env", func(t *testing.T, url string) (string, string) {
			text, _, _ := pysparkEnv(t, unique("hist-env"), "pandas==2.2.2\n")
			return mutation(t, url, "provision", text, http.StatusOK)
		}},
		{"changed-files", func(t *testing.T, url string) (string, string) {
			name := unique("hist-changed")
			key := "tests/" + name + "/app.jar"
			text := strings.Replace(sparkJar(t, name), "s3://artifacts/finance/cashflow/0.0.0/spark-app-0.0.0.jar", "s3://artifacts/"+key, 1)
			putS3(t, key, "first build")
			mutation(t, url, "provision", text, http.StatusOK)
			// A new build of the jar, and a dependency dropped from the descriptor.
			putS3(t, key, "second build, longer")
			text = strings.Replace(text, "          dependencies:\n            - s3://artifacts/finance/cashflow/0.0.0/libs/delta-core_2.12-2.4.0.jar\n", "", 1)
			return mutation(t, url, "provision", text, http.StatusOK)
		}},
		{"failed-provision", func(t *testing.T, url string) (string, string) {
			st.sim.FailNext("POST /dex/api/v1/jobs", 1, cdesim.Failure{Status: http.StatusBadRequest, Body: `{"message":"spark.file: unsupported"}`})
			return mutation(t, url, "provision", sparkJar(t, unique("hist-failed")), http.StatusInternalServerError)
		}},
		{"invalid-descriptor", func(t *testing.T, url string) (string, string) {
			text := strings.Replace(sparkJar(t, unique("hist-invalid")), "cdeCluster: vc-dev", "cdeCluster: vc-none", 1)
			return mutation(t, url, "provision", strings.Replace(text, "delta-core_2.12-2.4.0.jar", "gone.jar", 1), http.StatusBadRequest)
		}},
		{"unprovision", func(t *testing.T, url string) (string, string) {
			return mutation(t, url, "unprovision", jarText, http.StatusOK)
		}},
		{"unprovision-skipped", func(t *testing.T, url string) (string, string) {
			return mutation(t, url, "unprovision", at(unique("hist-skipped"), "cde-stage", "vc-stage"), http.StatusOK)
		}},
		{"validate-valid", func(t *testing.T, url string) (string, string) {
			return validation(t, url, sparkJar(t, unique("hist-valid")), true)
		}},
		{"validate-invalid", func(t *testing.T, url string) (string, string) {
			text := strings.Replace(strings.Replace(sparkJar(t, unique("hist-notvalid")),
				"spark-app-0.0.0.jar", "missing.jar", 1), "driverMemory: 2g", "driverMemory: 2G", 1)
			return validation(t, url, text, false)
		}},
		{"reverse-provision", func(t *testing.T, url string) (string, string) {
			name := unique("hist-import")
			handMadeJob(t, cde.Job{Name: "legacy-" + name, Type: cde.JobTypeSpark, Mounts: []cde.Mount{{ResourceName: "legacy-res-" + name}},
				Spark: &cde.SparkJob{File: "app.jar", ClassName: "a.B", Jars: []string{"dep.jar"}}},
				map[string][]byte{"app.jar": []byte("app"), "dep.jar": []byte("dep")})
			componentID := "urn:dmb:cmp:finance:cashflow:0:" + name
			status := reverse(t, url, reverseRequest(componentID, "legacy-"+name, "s3://artifacts/imports/"+name+"/"))
			require.Equal(t, api.StatusCompleted, status.Status, "%+v", status)
			return latestRun(t, fmt.Sprintf("WorkflowType = '%s' AND CdeComponentId = '%s'", workflows.ReverseProvisionName, componentID))
		}},
		{"drift-check", func(t *testing.T, url string) (string, string) {
			// A drifted component, so that the check compares, finds and records.
			name := unique("hist-drift")
			mutation(t, url, "provision", sparkJar(t, name), http.StatusOK)
			editJob(t, jobName(name), func(j map[string]any) { j["spark"].(map[string]any)["driverMemory"] = "8g" })
			run, err := st.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "hist-drift-check-" + name, TaskQueue: st.workerCf.Temporal.TaskQueue},
				workflows.DriftCheckName, workflows.DriftCheckInput{TaskQueue: st.workerCf.Temporal.TaskQueue})
			require.NoError(t, err)
			var res workflows.DriftCheckResult
			require.NoError(t, run.Get(ctx, &res))
			require.Contains(t, res.Drifted, "urn:dmb:cmp:finance:cashflow:0:"+name)
			return run.GetID(), run.GetRunID()
		}},
		{"drift-registry", func(t *testing.T, url string) (string, string) {
			// Open for good: its history so far (the merges and records of the checks above).
			desc, err := st.tc.DescribeWorkflow(ctx, workflows.DriftRegistryID(st.workerCf.Temporal.TaskQueue), "")
			require.NoError(t, err)
			return desc.WorkflowExecution.ID, desc.WorkflowExecution.RunID
		}},
	}

	replayer := worker.NewWorkflowReplayer()
	workflows.Register(replayer)
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			id, runID := p.run(t, srv.URL)
			hist := history(ctx, t, id, runID)
			require.NoError(t, replayer.ReplayWorkflowHistory(nil, hist), "the recorded history replays against the workflow code")
			if p.name == "pyspark-env" && *recordHistories != "" {
				require.True(t, hasEvent(hist, enumspb.EVENT_TYPE_TIMER_STARTED),
					"the Python environment was ready at the first poll: record again so that the history holds the wait")
			}
			if *recordHistories != "" {
				writeHistory(t, filepath.Join(*recordHistories, p.name+".json"), hist)
			}
		})
	}
}

// mutation sends a provision or unprovision and returns its run (the component's latest).
func mutation(t *testing.T, url, op, text string, wantStatus int) (string, string) {
	t.Helper()
	a := call(t, http.MethodPost, url+"/v1/"+op, request(text))
	require.Equal(t, wantStatus, a.status, "%s", a.body)
	d, _ := descriptor.Check(text)
	require.NotNil(t, d)
	id := workflows.ComponentWorkflowID(d.DataProduct.Environment, d.ComponentID)
	desc, err := st.tc.DescribeWorkflow(context.Background(), id, "")
	require.NoError(t, err)
	require.NotEqual(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.Status)
	return id, desc.WorkflowExecution.RunID
}

// validation runs an asynchronous validation (its token names its run) to the end.
func validation(t *testing.T, url, text string, valid bool) (string, string) {
	t.Helper()
	a := call(t, http.MethodPost, url+"/v2/validate", request(text))
	require.Equal(t, http.StatusAccepted, a.status, "%s", a.body)
	id, runID, err := api.DecodeToken(string(a.body))
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var res workflows.Result
	require.NoError(t, st.tc.GetWorkflow(ctx, id, runID).Get(ctx, &res))
	assert.Equal(t, valid, res.Valid)
	return id, runID
}

func history(ctx context.Context, t *testing.T, id, runID string) *historypb.History {
	t.Helper()
	it := st.tc.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	hist := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		require.NoError(t, err)
		hist.Events = append(hist.Events, ev)
	}
	require.NotEmpty(t, hist.Events)
	return hist
}

func hasEvent(h *historypb.History, typ enumspb.EventType) bool {
	for _, ev := range h.Events {
		if ev.GetEventType() == typ {
			return true
		}
	}
	return false
}

// writeHistory writes the history in the JSON of `temporal workflow show --output json`, which
// worker.WorkflowReplayer reads back.
func writeHistory(t *testing.T, path string, h *historypb.History) {
	t.Helper()
	b, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(h)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, append(b, '\n'), 0o644))
	fmt.Fprintf(os.Stderr, "recorded %s (%d events)\n", path, len(h.Events))
}

// latestRun is the run of the latest workflow the visibility query lists (waiting until it does).
func latestRun(t *testing.T, query string) (string, string) {
	t.Helper()
	var id, runID string
	require.Eventually(t, func() bool {
		resp, err := st.tc.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{Query: query})
		require.NoError(t, err)
		if len(resp.GetExecutions()) == 0 {
			return false
		}
		e := resp.GetExecutions()[0].GetExecution()
		id, runID = e.GetWorkflowId(), e.GetRunId()
		return true
	}, 30*time.Second, 200*time.Millisecond, query)
	return id, runID
}
