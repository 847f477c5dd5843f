package descriptor_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// The examples are the samples of `make run` and the README: they must stay valid.
func TestExamplesAreValid(t *testing.T) {
	tests := []struct {
		file string
		kind descriptor.JobKind
		job  string
	}{
		{"spark-jar.yaml", descriptor.SparkJar, "finance-cashflow-0-spark-wl-development"},
		{"pyspark.yaml", descriptor.PySpark, "marketing-campaigns-1-scoring-development"},
		{"pyspark-env.yaml", descriptor.PySparkWithEnv, "healthcare-vaccinations-0-weekly-report-production"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			text, err := os.ReadFile(filepath.Join("..", "examples", tt.file))
			require.NoError(t, err)
			d, problems := descriptor.Check(string(text))
			require.Empty(t, problems)
			require.NotNil(t, d)
			assert.Equal(t, tt.kind, d.Component.Specific.Kind)
			assert.Equal(t, tt.job, d.Component.Specific.JobName)
			assert.NotEmpty(t, d.Artifacts())
		})
	}
}
