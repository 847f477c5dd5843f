package descriptor_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

func TestExpectedJobName(t *testing.T) {
	tests := []struct {
		name, id, env, want string
	}{
		{"colon form of the template", "urn:dmb:cmp:finance:cashflow:0:spark-wl", "development", "finance-cashflow-0-spark-wl-development"},
		{"reference test: underscores and dots become dashes", "urn:dmb:cmp:my_dm.my_dp.1.my_wl", "my-dp-environment", "my-dm-my-dp-1-my-wl-my-dp-environment"},
		{"case is kept", "urn:dmb:cmp:Fin:CF:2:Job", "Prod", "Fin-CF-2-Job-Prod"},
		{"non-ASCII letters become dashes", "urn:dmb:cmp:fin:café:0:x", "dev", "fin-caf--0-x-dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, descriptor.ExpectedJobName(tt.id, tt.env))
		})
	}
}

func TestResourceNamesAreTheReferenceNames(t *testing.T) {
	// reference/witboost-api.md 5.4 #30 and #34: "mainres-"/"pyenvres-" + md5 hex of the job name.
	assert.Equal(t, "mainres-7f59fed658cdded64d35590c3c86003d", descriptor.MainResourceName("my-job-name"))
	assert.Equal(t, "pyenvres-7f59fed658cdded64d35590c3c86003d", descriptor.PyEnvResourceName("my-job-name"))
	long := strings.Repeat("super-mega-longest-name-", 20)
	assert.Len(t, descriptor.MainResourceName(long), len("mainres-")+32, "names stay bounded")
}

// componentIDs are the id shapes the reference provisioner accepted, each with the job name it
// required (reference/witboost-api.md 4.4: sanitise("<id without urn:dmb:cmp:>-<environment>"),
// every character outside [a-zA-Z0-9] replaced by "-"), and the ids it refused.
var componentIDs = []struct {
	name, id, env, jobName string // jobName "" when the id is refused
}{
	{"template shape", "urn:dmb:cmp:finance:cashflow:0:spark-wl", "development", "finance-cashflow-0-spark-wl-development"},
	{"a dot in a part", "urn:dmb:cmp:finance:cash.flow:0:spark-wl", "development", "finance-cash-flow-0-spark-wl-development"},
	{"the reference's own test id: dots, no colons", "urn:dmb:cmp:my_dm.my_dp.1.my_wl", "my-dp-environment", "my-dm-my-dp-1-my-wl-my-dp-environment"},
	{"one part", "urn:dmb:cmp:spark-wl", "development", "spark-wl-development"},
	{"two parts", "urn:dmb:cmp:finance:spark-wl", "development", "finance-spark-wl-development"},
	{"more parts than the template", "urn:dmb:cmp:finance:cashflow:0:spark-wl:extra", "development", "finance-cashflow-0-spark-wl-extra-development"},
	{"a major version that is not a number", "urn:dmb:cmp:finance:cashflow:v1:spark-wl", "development", "finance-cashflow-v1-spark-wl-development"},
	{"a major version beyond an int", "urn:dmb:cmp:finance:cashflow:99999999999999999999999:wl", "development", "finance-cashflow-99999999999999999999999-wl-development"},
	{"empty parts", "urn:dmb:cmp:finance::0:", "development", "finance--0--development"},
	{"only punctuation after the prefix", "urn:dmb:cmp::", "development", "--development"},
	{"space, slash and other punctuation", "urn:dmb:cmp:fin ance/x#1?a=b%20\"q\":0:wl", "development", "fin-ance-x-1-a-b-20-q--0-wl-development"},
	{"underscores become dashes, case is kept", "urn:dmb:cmp:Fin_Ops:CF:2:Job", "Prod", "Fin-Ops-CF-2-Job-Prod"},
	{"a non-ASCII letter is one dash", "urn:dmb:cmp:fin:café:0:x", "dev", "fin-caf--0-x-dev"},
	{"a character outside the BMP is one dash, as in Java's replaceAll", "urn:dmb:cmp:fin:a\U0001F600b:0:x", "dev", "fin-a-b-0-x-dev"},
	{"an environment with punctuation", "urn:dmb:cmp:finance:cashflow:0:spark-wl", "dev.eu_1", "finance-cashflow-0-spark-wl-dev-eu-1"},

	{"empty", "", "development", ""},
	{"the prefix alone", "urn:dmb:cmp:", "development", ""},
	{"the prefix without its last colon", "urn:dmb:cmp", "development", ""},
	{"no prefix", "finance:cashflow:0:spark-wl", "development", ""},
	{"a data product id", "urn:dmb:dp:finance:cashflow:0", "development", ""},
	{"the prefix in upper case", "URN:DMB:CMP:finance:cashflow:0:spark-wl", "development", ""},
	{"a space before the prefix", " urn:dmb:cmp:finance:cashflow:0:spark-wl", "development", ""},
}

func TestParseComponentIDAcceptsWhatTheReferenceAccepted(t *testing.T) {
	for _, tt := range componentIDs {
		t.Run(tt.name, func(t *testing.T) {
			id, err := descriptor.ParseComponentID(tt.id)
			if tt.jobName == "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), descriptor.ComponentIDPrefix)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, strings.TrimPrefix(tt.id, descriptor.ComponentIDPrefix), id.Rest)
			assert.Equal(t, tt.jobName, descriptor.ExpectedJobName(tt.id, tt.env))
		})
	}
}

func TestParseS3Location(t *testing.T) {
	tests := []struct {
		name     string
		loc      string
		bucket   string
		key      string
		basename string
		err      string
	}{
		{"bucket and nested key", "s3://artifacts/finance/cashflow/0.0.0/app.jar", "artifacts", "finance/cashflow/0.0.0/app.jar", "app.jar", ""},
		{"key at the bucket root", "s3://my.bucket-1/app.py", "my.bucket-1", "app.py", "app.py", ""},
		{"key with a colon as in template paths", "s3://artifacts/domain:finance/app.jar", "artifacts", "domain:finance/app.jar", "app.jar", ""},
		{"other scheme", "s3a://artifacts/app.jar", "", "", "", "is not an S3 location"},
		{"plain path", "/tmp/app.jar", "", "", "", "is not an S3 location"},
		{"bucket only", "s3://artifacts", "", "", "", "has no object key"},
		{"bucket and slash only", "s3://artifacts/", "", "", "", "has no object key"},
		{"folder key", "s3://artifacts/libs/", "", "", "", "names a folder"},
		{"dot-dot file name", "s3://artifacts/libs/..", "", "", "", "is not a file"},
		{"upper-case bucket", "s3://Artifacts/app.jar", "", "", "", "is not a valid S3 bucket name"},
		{"bucket of two characters", "s3://ab/app.jar", "", "", "", "is not a valid S3 bucket name"},
		{"bucket with consecutive dots", "s3://a..b/app.jar", "", "", "", "is not a valid S3 bucket name"},
		{"control character in the file name", "s3://artifacts/a\x01.jar", "", "", "", "control"},
		{"backslash in the file name", `s3://artifacts/a\b.jar`, "", "", "", "backslash"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := descriptor.ParseS3Location(tt.loc)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.bucket, l.Bucket)
			assert.Equal(t, tt.key, l.Key)
			assert.Equal(t, tt.basename, l.Basename())
			assert.Equal(t, tt.loc, l.String())
		})
	}
}

func TestArtifactsListEveryFileWithItsField(t *testing.T) {
	doc := descriptorDoc()
	asPySparkWithEnv(doc)
	jobConfig(doc)["dependencies"] = []any{"s3://artifacts/libs/a.py", "s3://artifacts/libs/b.zip"}
	d, problems := descriptor.Check(marshal(t, doc))
	require.Empty(t, problems)

	arts := d.Artifacts()
	require.Len(t, arts, 4)
	assert.Equal(t, descriptor.Artifact{Role: descriptor.RoleApplication, Field: wl + "specific.pythonFile",
		Location: descriptor.S3Location{Bucket: "artifacts", Key: "finance/cashflow/main.py"}}, arts[0])
	assert.Equal(t, wl+"specific.jobConfig.dependencies[0]", arts[1].Field)
	assert.Equal(t, "b.zip", arts[2].Location.Basename())
	assert.Equal(t, descriptor.RoleRequirements, arts[3].Role)

	// Activities report a missing artifact with the reference's words, naming the location.
	p := descriptor.ArtifactNotFound(arts[2])
	assert.Equal(t, wl+"specific.jobConfig.dependencies[1]", p.Field)
	assert.Equal(t, "Job Source dependencies not found: s3://artifacts/libs/b.zip does not exist", p.Message)
	assert.True(t, strings.HasPrefix(descriptor.ArtifactNotFound(arts[0]).Message, "Job Source application file not found"))
	assert.True(t, strings.HasPrefix(descriptor.ArtifactNotFound(arts[3]).Message, "Invalid Python environment settings"))
}

func TestCDERulesCarryTheReferenceMessages(t *testing.T) {
	d, problems := descriptor.Check(marshal(t, descriptorDoc()))
	require.Empty(t, problems)
	tests := []struct {
		rule  descriptor.Rule
		field string
		want  string
	}{
		{descriptor.ServiceNotFound, descriptor.FieldCDEService, "CDE Service not found"},
		{descriptor.ServiceNotRunning, descriptor.FieldCDEService, "CDE Service exists but is not running"},
		{descriptor.ServiceRecentlyDeleted, descriptor.FieldCDEService, "CDE Service was recently deleted"},
		{descriptor.ClusterNotFound, descriptor.FieldCDECluster, "CDE Virtual Cluster not found"},
		{descriptor.ClusterNotActive, descriptor.FieldCDECluster, "CDE Virtual Cluster exists but is not properly activated"},
		{descriptor.ClusterRecentlyDeleted, descriptor.FieldCDECluster, "CDE Virtual Cluster was recently deleted"},
	}
	for _, tt := range tests {
		p := tt.rule.At(d.Path(tt.field))
		assert.Equal(t, tt.want, p.Message)
		assert.Equal(t, wl+tt.field, p.Field)
		assert.NotEmpty(t, p.Solution)
	}
	withDetail := descriptor.ServiceNotRunning.At("f", "status is ClusterCreationFailed", "")
	assert.Equal(t, "CDE Service exists but is not running: status is ClusterCreationFailed", withDetail.Message)
}

func TestProblems(t *testing.T) {
	ps := descriptor.Problems{
		{Field: "a", Message: "first", Solution: "Fix a."},
		{Field: "a", Message: "second", Solution: "Fix a.", Line: 3, Column: 7},
	}
	assert.Equal(t, "a", ps.Field(), "one field at fault")
	assert.Equal(t, []string{"Fix a."}, ps.Solutions(), "solutions are not repeated")
	assert.Equal(t, []string{"first", "second"}, ps.Messages())
	assert.Equal(t, "2 problems: first (field a); second (field a, line 3, column 7)", ps.Error())
	assert.Error(t, ps.Err())
	assert.NoError(t, descriptor.Problems(nil).Err())

	ps = append(ps, descriptor.Problem{Field: "b", Message: "third"})
	assert.Equal(t, "", ps.Field(), "several fields at fault")
}
