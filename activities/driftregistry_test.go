package activities_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// This package cannot import workflows (which imports it): the names it reaches the registry and
// lists the runs by must be workflows'.
func TestDriftNamesAreTheWorkflowsOwn(t *testing.T) {
	assert.Equal(t, map[string]string{
		"registry": workflows.DriftRegistryName, "merge": workflows.UpdateDriftMerge, "record": workflows.UpdateDriftRecord,
		"state": workflows.QueryDriftState, "provision": workflows.ProvisionName, "unprovision": workflows.UnprovisionName,
	}, activities.DriftNames)
	assert.Equal(t, workflows.DriftRegistryID("tq"), activities.DriftRegistryID("tq"))
}
