package app

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	tlog "go.temporal.io/sdk/log"

	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

func TestEveryLineOfARunCarriesTheComponentID(t *testing.T) {
	var buf bytes.Buffer
	logger := tlog.NewStructuredLogger(slog.New(withComponentID(slog.NewJSONHandler(&buf, nil))))
	comp := "urn:dmb:cmp:finance:cashflow:0:spark-wl"
	id := workflows.ComponentWorkflowID("development", comp)

	logger.Info("a line with the ids as arguments", "WorkflowID", id, "RunID", "r1")
	tlog.With(logger, "WorkflowID", id, "RunID", "r1").Info("a line of a logger with the ids")
	tlog.With(tlog.With(logger, "WorkflowID", id), "ActivityType", "SyncFiles").Warn("a line of a derived logger")
	logger.Info("a line of no run")
	logger.Info("another namespace's workflow", "WorkflowID", "billing/42")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	require.Len(t, lines, 5)
	for i, line := range lines {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec))
		if i < 3 {
			assert.Equal(t, comp, rec["componentID"], line)
			assert.Equal(t, 1, strings.Count(line, `"componentID"`), "once: %s", line)
		} else {
			assert.NotContains(t, rec, "componentID", line)
		}
	}
}
