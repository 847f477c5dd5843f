package descriptor_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// roundTrip is the descriptor as a workflow receives it: through JSON, positions lost.
func roundTrip(t testing.TB, d *descriptor.Descriptor) *descriptor.Descriptor {
	t.Helper()
	data, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	var out descriptor.Descriptor
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

func TestRecheckAcceptsWhatCheckAccepted(t *testing.T) {
	examples, err := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	require.NoError(t, err)
	for _, name := range examples {
		if filepath.Base(name) == "cdesim-seed.yaml" {
			continue
		}
		t.Run(filepath.Base(name), func(t *testing.T) {
			text, err := os.ReadFile(name)
			require.NoError(t, err)
			d, problems := descriptor.Check(string(text))
			require.Empty(t, problems)
			assert.Empty(t, descriptor.Recheck(roundTrip(t, d)))
			assert.Empty(t, descriptor.RecheckUnprovision(roundTrip(t, d)))
		})
	}
}

// TestRecheckRefusesWhatOnlyADirectStartCouldSend changes a valid descriptor after decoding, as
// a client starting the workflow on Temporal could, and expects the one problem at its field.
func TestRecheckRefusesWhatOnlyADirectStartCouldSend(t *testing.T) {
	tests := []struct {
		name        string
		change      func(d *descriptor.Descriptor)
		field       string
		unprovision bool // RecheckUnprovision refuses it too
	}{
		{"a job name of another component", func(d *descriptor.Descriptor) {
			d.Component.Specific.JobName = "finance-cashflow-0-other-development"
		}, wl + "specific.jobName", true},
		{"a job name of another environment", func(d *descriptor.Descriptor) { d.DataProduct.Environment = "production" }, wl + "specific.jobName", true},
		{"a malformed component id", func(d *descriptor.Descriptor) {
			d.ComponentID, d.Component.ID = "urn:dmb:dp:finance", "urn:dmb:dp:finance"
		}, wl + "id", true},
		{"a reference-style id with the template's job name", func(d *descriptor.Descriptor) {
			d.ComponentID, d.Component.ID = "urn:dmb:cmp:finance:cash.flow:0:spark-wl", "urn:dmb:cmp:finance:cash.flow:0:spark-wl"
		}, wl + "specific.jobName", true},
		{"a component that is not the one to provision", func(d *descriptor.Descriptor) {
			d.Component.ID = "urn:dmb:cmp:finance:cashflow:0:other"
		}, wl + "id", true},
		{"no environment", func(d *descriptor.Descriptor) { d.DataProduct.Environment = "" }, "dataProduct.environment", true},
		{"no data product id", func(d *descriptor.Descriptor) { d.DataProduct.ID = "" }, "dataProduct.id", true},
		{"no virtual cluster", func(d *descriptor.Descriptor) { d.Component.Specific.CDECluster = "" }, wl + "specific.cdeCluster", true},
		{"a negative component index", func(d *descriptor.Descriptor) { d.ComponentIndex = -1 }, "componentIdToProvision", true},
		{"an unknown job kind", func(d *descriptor.Descriptor) { d.Component.Specific.Kind = "scala" }, wl + "specific", false},
		{"a bad memory setting", func(d *descriptor.Descriptor) { d.Component.Specific.JobConfig.DriverMemory = ptr("2G") }, wl + "specific.jobConfig.driverMemory", false},
		{"an artifact outside S3", func(d *descriptor.Descriptor) { d.Component.Specific.Jar = "hdfs://x/app.jar" }, wl + "specific.jar", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, problems := descriptor.Check(marshal(t, descriptorDoc()))
			require.Empty(t, problems)
			d = roundTrip(t, d)
			tt.change(d)
			ps := descriptor.Recheck(d)
			require.Len(t, ps, 1, "%v", ps)
			assert.Equal(t, tt.field, ps[0].Field)
			assert.NotEmpty(t, ps[0].Solution)
			if tt.unprovision {
				assert.Equal(t, ps, descriptor.RecheckUnprovision(d))
			} else {
				assert.Empty(t, descriptor.RecheckUnprovision(d), "deleting does not depend on it")
			}
		})
	}
}

func ptr(s string) *string { return &s }
