package workflows

import (
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// historiesDir holds, per landed version of the workflow code, the histories of real runs of
// every path (recorded by `make histories` from the local stack: the Temporal dev server, the
// CDE simulator, the local S3). Each version stays here as long as its code path exists: a
// worker of this code may be handed any of those runs in the middle of a rolling upgrade.
const historiesDir = "testdata/histories"

// recordedPaths are the paths every version's histories cover (e2e/histories_test.go).
var recordedPaths = []string{
	"jar-provision", "unchanged-redeploy", "pyspark", "pyspark-env", "changed-files",
	"failed-provision", "invalid-descriptor", "unprovision", "unprovision-skipped",
	"validate-valid", "validate-invalid",
}

// laterPaths are the paths of workflows added after the first version: every version from the
// one that added them on covers them (the versions before had no such workflow).
var laterPaths = map[string]string{
	"reverse-provision": "v5", // ReverseProvision
	"drift-check":       "v5", // DriftCheck
	"drift-registry":    "v5", // DriftRegistry, open: its history so far
}

// pathsOf are the paths version v covers.
func pathsOf(v string) []string {
	out := append([]string(nil), recordedPaths...)
	for _, p := range slices.Sorted(maps.Keys(laterPaths)) {
		if versionAtLeast(v, laterPaths[p]) {
			out = append(out, p)
		}
	}
	return out
}

// versionAtLeast compares version labels v<N> by number.
func versionAtLeast(v, since string) bool {
	n, errN := strconv.Atoi(strings.TrimPrefix(v, "v"))
	m, errM := strconv.Atoi(strings.TrimPrefix(since, "v"))
	return errN == nil && errM == nil && n >= m
}

func quietLogger() log.Logger {
	return log.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// recordedVersions lists the recorded versions, oldest name first.
func recordedVersions(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(historiesDir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	require.NotEmpty(t, out, "no recorded histories under %s", historiesDir)
	return out
}

// TestRecordedHistoriesReplay replays the history of every path of every landed version against
// today's workflow code. A failure is a change that would break the runs in flight during a
// rolling upgrade: guard it with workflow.GetVersion (versions.go) instead of editing a history.
func TestRecordedHistoriesReplay(t *testing.T) {
	for _, v := range recordedVersions(t) {
		for _, p := range pathsOf(v) {
			t.Run(v+"/"+p, func(t *testing.T) {
				file := filepath.Join(historiesDir, v, p+".json")
				require.FileExists(t, file, "every version keeps a history of every path")
				replayer := worker.NewWorkflowReplayer()
				Register(replayer)
				require.NoError(t, replayer.ReplayWorkflowHistoryFromJSONFile(quietLogger(), file))
			})
		}
	}
}

// TestEveryRecordedHistoryIsOfAKnownPath keeps the directory honest: a history that is not one
// of the paths above would be replayed without anyone knowing what it covers.
func TestEveryRecordedHistoryIsOfAKnownPath(t *testing.T) {
	for _, v := range recordedVersions(t) {
		known := map[string]bool{}
		for _, p := range pathsOf(v) {
			known[p+".json"] = true
		}
		files, err := filepath.Glob(filepath.Join(historiesDir, v, "*"))
		require.NoError(t, err)
		for _, f := range files {
			name := filepath.Base(f)
			if strings.HasSuffix(name, ".md") {
				continue
			}
			require.True(t, known[name], "%s is not a recorded path", f)
		}
	}
}

// registerEdited registers the workflows under their names with every log entry passed through
// edit, as if their log messages had been edited in the source.
func registerEdited(r worker.WorkflowReplayer, edit func(workflow.Context, Log) []Log) {
	r.RegisterWorkflowWithOptions(func(ctx workflow.Context, in Input) (Result, error) {
		return validate(newRun(ctx, OpValidate, in, edit))
	}, workflow.RegisterOptions{Name: ValidateName})
	r.RegisterWorkflowWithOptions(func(ctx workflow.Context, in Input) (Result, error) {
		return provision(newRun(ctx, OpProvision, in, edit))
	}, workflow.RegisterOptions{Name: ProvisionName})
	r.RegisterWorkflowWithOptions(func(ctx workflow.Context, in Input) (Result, error) {
		return unprovision(newRun(ctx, OpUnprovision, in, edit))
	}, workflow.RegisterOptions{Name: UnprovisionName})
}

// TestEditingLogMessagesLeavesTheCommandsUnchanged replays histories recorded before an edit of
// every log message (each one reworded, every other one removed, a new one added after each)
// against the edited code: they replay, because a log line is not a command. The control edit
// upserts a memo with each log line, as the first release did, and must not replay: the test
// would see a change that adds commands.
func TestEditingLogMessagesLeavesTheCommandsUnchanged(t *testing.T) {
	reword := func(_ workflow.Context, l Log) []Log {
		kept := l
		kept.Message = "Reworded: " + strings.ToUpper(l.Message)
		added := Log{Timestamp: l.Timestamp, Level: "DEBUG", Message: "a new message", Phase: l.Phase}
		if len(l.Message)%2 == 0 {
			return []Log{added} // the original message removed
		}
		return []Log{kept, added}
	}
	withMemo := func(ctx workflow.Context, l Log) []Log {
		_ = workflow.UpsertMemo(ctx, map[string]any{"log": l.Message})
		return []Log{l}
	}
	vs := recordedVersions(t)
	for _, v := range vs {
		for _, p := range recordedPaths {
			t.Run(v+"/"+p, func(t *testing.T) {
				file := filepath.Join(historiesDir, v, p+".json")
				edited := worker.NewWorkflowReplayer()
				registerEdited(edited, reword)
				require.NoError(t, edited.ReplayWorkflowHistoryFromJSONFile(quietLogger(), file))

				if v != vs[len(vs)-1] {
					return
				}
				control := worker.NewWorkflowReplayer()
				registerEdited(control, withMemo)
				require.Error(t, control.ReplayWorkflowHistoryFromJSONFile(quietLogger(), file),
					"a memo upsert per log line is a command: the replay must notice it")
			})
		}
	}
}
