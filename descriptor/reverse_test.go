package descriptor_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// A specific goes to its CDE job's shape and back (KindOf, SpecificOf), and its descriptor fields
// decode to the same specific: what reverse provisioning answers provisions the same job.
func TestASpecificRoundTripsThroughItsJobShapeAndItsDescriptorFields(t *testing.T) {
	for name, shape := range map[string]func(map[string]any){
		"jar":                func(map[string]any) {},
		"pyspark":            asPySpark,
		"pyspark with a env": asPySparkWithEnv,
	} {
		t.Run(name, func(t *testing.T) {
			doc := descriptorDoc()
			shape(doc)
			d, problems := descriptor.Decode(marshal(t, doc))
			require.Empty(t, problems)
			s := d.Component.Specific

			kind, ok := descriptor.KindOf(s.JobShape())
			require.True(t, ok)
			assert.Equal(t, s.Kind, kind)
			files := map[descriptor.ArtifactRole]string{}
			for _, a := range d.Artifacts() {
				if a.Role != descriptor.RoleDependency {
					files[a.Role] = a.Location.String()
				}
			}
			back, err := descriptor.SpecificOf(kind, s.JobShape(), files)
			require.NoError(t, err)
			back.CDEService, back.CDECluster, back.JobName, back.JobConfig, back.PyMirror = s.CDEService, s.CDECluster, s.JobName, s.JobConfig, s.PyMirror
			assert.Equal(t, s, back)

			fields, err := back.DescriptorFields()
			require.NoError(t, err)
			assert.NotContains(t, fields, "kind", "the decoder tells the kind from the fields")
			workload(doc)["specific"] = fields
			again, problems := descriptor.Decode(marshal(t, doc))
			require.Empty(t, problems)
			assert.Equal(t, s, again.Component.Specific)
			assert.Empty(t, descriptor.Validate(again))
		})
	}
}

func TestKindOfAShapeNoKindHas(t *testing.T) {
	_, ok := descriptor.KindOf(descriptor.JobShape{PythonEnvResource: "pyenv"})
	assert.False(t, ok, "a python-env without Python files")
	_, err := descriptor.SpecificOf(descriptor.SparkJar, descriptor.JobShape{ClassName: "a.B"},
		map[descriptor.ArtifactRole]string{descriptor.RoleRequirements: "s3://b/requirements.txt"})
	assert.ErrorContains(t, err, "no file of role requirements")
}
