package activities_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

func TestSecretConfKey(t *testing.T) {
	tests := []struct {
		key    string
		secret bool
	}{
		{"spark.hadoop.fs.s3a.access.key", true},
		{"spark.hadoop.fs.s3a.secret.key", true},
		{"fs.azure.account.key.acct.dfs.core.windows.net", true},
		{"spark.myapp.apiKey", true},
		{"spark.myapp.API_KEY", true},
		{"spark.myapp.private-key", true},
		{"spark.jdbc.Password", true},
		{"spark.db.passwd", true},
		{"spark.myapp.authToken", true},
		{"spark.myapp.clientSecret", true},
		{"spark.hadoop.credentialProvider.path", true},
		{"spark.driverMemory", false},
		{"spark.sql.shuffle.partitions", false},
		{"spark.cde.idBrokerHosts", false},
		{"spark.sql.keyspace", false},
		{"dex.safariEnabled", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			assert.Equal(t, tt.secret, activities.SecretConfKey(tt.key))
		})
	}
}

func sampleJob() *cde.Job {
	return &cde.Job{
		Name:   "j",
		Mounts: []cde.Mount{{ResourceName: "mainres-1"}},
		Spark: &cde.SparkJob{File: "app.jar", ClassName: "com.example.App", Args: []string{"a"}, DriverCores: 1, DriverMemory: "1g",
			ExecutorCores: 1, ExecutorMemory: "1g", NumExecutors: 1, LogLevel: "INFO", Jars: []string{"dep.jar"},
			Conf: map[string]string{"dex.safariEnabled": "true", "spark.x": "1", "spark.s3a.secret.key": "hunter2"}},
		Schedule: &cde.Schedule{Enabled: false},
	}
}

func TestJobChanges(t *testing.T) {
	tests := []struct {
		name   string
		change func(j *cde.Job)
		want   []activities.JobFieldChange
	}{
		{"an identical job has no change", func(*cde.Job) {}, nil},
		{"scalars show old → new", func(j *cde.Job) { j.Spark.DriverMemory, j.Spark.NumExecutors = "2g", 3 }, []activities.JobFieldChange{
			{Field: "spark.driverMemory", Old: "1g", New: "2g"},
			{Field: "spark.numExecutors", Old: "1", New: "3"},
		}},
		{"lists and mounts are shown whole", func(j *cde.Job) {
			j.Spark.Jars = []string{"dep.jar", "dep2.jar"}
			j.Spark.Args = []string{}
			j.Mounts = append(j.Mounts, cde.Mount{ResourceName: "other", DirPrefix: "lib"})
		}, []activities.JobFieldChange{
			{Field: "mounts", Old: "[mainres-1]", New: "[mainres-1, other:lib]"},
			{Field: "spark.args", Old: "[a]", New: "[]"},
			{Field: "spark.jars", Old: "[dep.jar]", New: "[dep.jar, dep2.jar]"},
		}},
		{"conf keys added, removed and changed, sorted", func(j *cde.Job) {
			j.Spark.Conf = map[string]string{"dex.safariEnabled": "true", "spark.x": "2", "spark.a": "", "spark.s3a.secret.key": "hunter2"}
		}, []activities.JobFieldChange{
			{Field: "spark.conf.spark.a", Old: activities.Unset, New: `""`},
			{Field: "spark.conf.spark.x", Old: `"1"`, New: `"2"`},
		}},
		{"a secret's value is masked", func(j *cde.Job) { j.Spark.Conf["spark.s3a.secret.key"] = "correct horse" }, []activities.JobFieldChange{
			{Field: "spark.conf.spark.s3a.secret.key", Old: activities.MaskedValue, New: activities.MaskedValue, Masked: true},
		}},
		{"a secret removed shows unset", func(j *cde.Job) { delete(j.Spark.Conf, "spark.s3a.secret.key") }, []activities.JobFieldChange{
			{Field: "spark.conf.spark.s3a.secret.key", Old: activities.MaskedValue, New: activities.Unset, Masked: true},
		}},
		{"the schedule", func(j *cde.Job) {
			j.Schedule = &cde.Schedule{Enabled: true, CronExpression: "0 1 * * *", Start: "2026-01-01", End: "2027-01-01"}
		}, []activities.JobFieldChange{
			{Field: "schedule.enabled", Old: "false", New: "true"},
			{Field: "schedule.cronExpression", Old: activities.Unset, New: "0 1 * * *"},
			{Field: "schedule.start", Old: activities.Unset, New: "2026-01-01"},
			{Field: "schedule.end", Old: activities.Unset, New: "2027-01-01"},
		}},
		{"a PySpark job's fields", func(j *cde.Job) {
			j.Spark.File, j.Spark.ClassName, j.Spark.Jars, j.Spark.PyFiles, j.Spark.PythonEnvResourceName = "main.py", "", nil, []string{"x.py"}, "pyenv-1"
		}, []activities.JobFieldChange{
			{Field: "spark.file", Old: "app.jar", New: "main.py"},
			{Field: "spark.className", Old: "com.example.App", New: activities.Unset},
			{Field: "spark.jars", Old: "[dep.jar]", New: "[]"},
			{Field: "spark.pyFiles", Old: "[]", New: "[x.py]"},
			{Field: "spark.pythonEnvResourceName", Old: activities.Unset, New: "pyenv-1"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, after := sampleJob(), sampleJob()
			tt.change(after)
			got := activities.JobChanges(before, after)
			assert.Equal(t, tt.want, got)
			raw, err := json.Marshal(got)
			require.NoError(t, err)
			assert.NotContains(t, string(raw), "hunter2")
			assert.NotContains(t, string(raw), "correct horse")
		})
	}
}

func TestJobChangesOfAJobNotReadBeforeAreNone(t *testing.T) {
	assert.Empty(t, activities.JobChanges(nil, sampleJob()))
	assert.Empty(t, activities.JobChanges(sampleJob(), nil))
}

func TestJobFieldChangeString(t *testing.T) {
	assert.Equal(t, "spark.driverMemory: 1g → 2g", activities.JobFieldChange{Field: "spark.driverMemory", Old: "1g", New: "2g"}.String())
}

// Every member of the spark object and the schedule that BuildJob sets, for any kind, is compared
// by JobChanges: a member BuildJob starts setting without JobChanges comparing it fails here (the
// drift guard of cde/jobs_test.go, for the two lists here).
func TestJobChangesComparesEveryMemberBuildJobSets(t *testing.T) {
	name := "finance-cashflow-0-wl-development"
	cfg := &descriptor.JobConfig{Args: []string{"a"}, Dependencies: []string{"s3://bkt/lib/a.jar"}, Conf: map[string]string{"k": "v"},
		Schedule: &descriptor.Schedule{CronExpression: "0 3 * * *", StartDate: "2025-01-01T00:00:00Z", EndDate: "2026-01-01T00:00:00Z"}}
	specs := []descriptor.Specific{
		{Kind: descriptor.SparkJar, JobName: name, Jar: "s3://bkt/app.jar", ClassName: "com.example.App", JobConfig: cfg},
		{Kind: descriptor.PySpark, JobName: name, PythonFile: "s3://bkt/main.py", PythonVersion: "python3", JobConfig: cfg},
		{Kind: descriptor.PySparkWithEnv, JobName: name, PythonFile: "s3://bkt/main.py", PythonVersion: "python3",
			RequirementsFile: "s3://bkt/requirements.txt", JobConfig: cfg},
	}
	for _, spec := range specs {
		built := activities.BuildJob(spec, []string{"10.0.0.1"})
		check := func(prefix string, v reflect.Value, mutate func(*cde.Job) reflect.Value) {
			for i := range v.NumField() {
				f := v.Type().Field(i)
				if v.Field(i).IsZero() || f.Name == "Conf" { // conf keys: TestJobChanges
					continue
				}
				field := prefix + strings.Split(f.Tag.Get("json"), ",")[0]
				t.Run(string(spec.Kind)+" "+field, func(t *testing.T) {
					after := activities.BuildJob(spec, []string{"10.0.0.1"})
					m := mutate(&after).Field(i)
					switch m.Kind() {
					case reflect.String:
						m.SetString(m.String() + "x")
					case reflect.Int:
						m.SetInt(m.Int() + 1)
					case reflect.Bool:
						m.SetBool(!m.Bool())
					case reflect.Slice:
						m.Set(reflect.Append(m, reflect.ValueOf("x")))
					default:
						t.Fatalf("%s: a %s member, JobChanges and this test must learn it", field, m.Kind())
					}
					var fields []string
					for _, c := range activities.JobChanges(&built, &after) {
						fields = append(fields, c.Field)
					}
					assert.Equal(t, []string{field}, fields)
				})
			}
		}
		check("spark.", reflect.ValueOf(*built.Spark), func(j *cde.Job) reflect.Value { return reflect.ValueOf(j.Spark).Elem() })
		check("schedule.", reflect.ValueOf(*built.Schedule), func(j *cde.Job) reflect.Value { return reflect.ValueOf(j.Schedule).Elem() })
		after := activities.BuildJob(spec, nil)
		after.Mounts = append(after.Mounts, cde.Mount{ResourceName: "other"})
		assert.Equal(t, "mounts", activities.JobChanges(&built, &after)[0].Field)
	}
}

func TestMaskArgsHidesTheValuesOfSecretLookingOptions(t *testing.T) {
	for _, tt := range []struct{ in, want []string }{
		{nil, nil},
		{[]string{"--day", "2026-12-08", "--input", "s3a://b/x/"}, []string{"--day", "2026-12-08", "--input", "s3a://b/x/"}},
		{[]string{"--password=hunter2", "--user", "bob"}, []string{"--password=(masked)", "--user", "bob"}},
		{[]string{"--api-key", "abc123", "--day", "1"}, []string{"--api-key", "(masked)", "--day", "1"}},
		{[]string{"-Dfs.s3a.secret.key=AKIA", "-Dspark.app.name=x"}, []string{"-Dfs.s3a.secret.key=(masked)", "-Dspark.app.name=x"}},
		{[]string{"--token"}, []string{"--token"}},
		{[]string{"password", "x"}, []string{"password", "x"}}, // not an option: a positional argument
	} {
		assert.Equal(t, tt.want, activities.MaskArgs(tt.in), "%q", tt.in)
	}
	// In a change, a changed secret shows as a change with neither value.
	before := &cde.Job{Name: "j", Spark: &cde.SparkJob{Args: []string{"--password=hunter1"}}}
	after := &cde.Job{Name: "j", Spark: &cde.SparkJob{Args: []string{"--password=hunter2", "--day", "1"}}}
	changes := activities.JobChanges(before, after)
	require.Len(t, changes, 1)
	assert.Equal(t, activities.JobFieldChange{Field: "spark.args", Old: "[--password=(masked)]", New: "[--password=(masked), --day, 1]", Masked: true}, changes[0])
	// The secret alone changed: still a change, masked on both sides.
	after.Spark.Args = []string{"--password=hunter2"}
	changes = activities.JobChanges(before, after)
	require.Len(t, changes, 1)
	assert.Equal(t, activities.JobFieldChange{Field: "spark.args", Old: "[--password=(masked)]", New: "[--password=(masked)]", Masked: true}, changes[0])
	raw, err := json.Marshal(changes)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "hunter")
}
