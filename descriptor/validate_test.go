package descriptor_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

func TestValidDescriptorsHaveNoProblems(t *testing.T) {
	tests := []struct {
		name   string
		change func(doc map[string]any)
		kind   descriptor.JobKind
	}{
		{"spark jar job with every option", func(map[string]any) {}, descriptor.SparkJar},
		{"spark jar job without jobConfig", func(doc map[string]any) { delete(specific(doc), "jobConfig") }, descriptor.SparkJar},
		{"jobConfig null", func(doc map[string]any) { specific(doc)["jobConfig"] = nil }, descriptor.SparkJar},
		{"schedule null", func(doc map[string]any) { jobConfig(doc)["schedule"] = nil }, descriptor.SparkJar},
		{"empty numExecutors as the template renders it", func(doc map[string]any) { jobConfig(doc)["numExecutors"] = nil }, descriptor.SparkJar},
		{"pyspark job", asPySpark, descriptor.PySpark},
		{"pyspark job with environment", asPySparkWithEnv, descriptor.PySparkWithEnv},
		{"pyspark job with environment and no mirror", func(doc map[string]any) {
			asPySparkWithEnv(doc)
			delete(specific(doc), "pyMirror")
		}, descriptor.PySparkWithEnv},
		{"pyspark job with environment and a null mirror", func(doc map[string]any) {
			asPySparkWithEnv(doc)
			specific(doc)["pyMirror"] = nil
		}, descriptor.PySparkWithEnv},
		{"pyspark job with environment and an empty mirror", func(doc map[string]any) {
			asPySparkWithEnv(doc)
			specific(doc)["pyMirror"] = ""
		}, descriptor.PySparkWithEnv},
		{"component id of the reference's tests, with its job name", func(doc map[string]any) {
			workload(doc)["id"] = "urn:dmb:cmp:my_dm.my_dp.1.my_wl"
			doc["componentIdToProvision"] = "urn:dmb:cmp:my_dm.my_dp.1.my_wl"
			specific(doc)["jobName"] = "my-dm-my-dp-1-my-wl-development"
		}, descriptor.SparkJar},
		{"unknown fields are tolerated", func(doc map[string]any) {
			specific(doc)["futureField"] = map[string]any{"x": []any{1, 2}}
			jobConfig(doc)["somethingNew"] = true
			dataProduct(doc)["billing"] = map[string]any{}
		}, descriptor.SparkJar},
		{"cron with ranges, lists, steps and names", func(doc map[string]any) {
			jobConfig(doc)["schedule"].(map[string]any)["cronExpression"] = "*/15 8-18/2 1,15 JAN-jun mon-FRI"
		}, descriptor.SparkJar},
		{"every spark log level", func(doc map[string]any) { jobConfig(doc)["logLevel"] = "WARN" }, descriptor.SparkJar},
		{"class name with $ and unicode letters", func(doc map[string]any) { specific(doc)["className"] = "com.exämple.App$Main" }, descriptor.SparkJar},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := descriptorDoc()
			tt.change(doc)
			d, problems := descriptor.Check(marshal(t, doc))
			require.Empty(t, problems)
			require.NotNil(t, d)
			assert.Equal(t, tt.kind, d.Component.Specific.Kind)
		})
	}
}

// TestStaticRules has one case per rule: the descriptor differs from a valid one in one place,
// and exactly one problem is expected, at the right field, starting with the rule's message.
func TestStaticRules(t *testing.T) {
	set := func(key string, v any) func(map[string]any) {
		return func(doc map[string]any) { jobConfig(doc)[key] = v }
	}
	setSpecific := func(key string, v any) func(map[string]any) {
		return func(doc map[string]any) { specific(doc)[key] = v }
	}
	setSchedule := func(key string, v any) func(map[string]any) {
		return func(doc map[string]any) { jobConfig(doc)["schedule"].(map[string]any)[key] = v }
	}
	py := func(change func(map[string]any)) func(map[string]any) {
		return func(doc map[string]any) { asPySpark(doc); change(doc) }
	}
	pyEnv := func(change func(map[string]any)) func(map[string]any) {
		return func(doc map[string]any) { asPySparkWithEnv(doc); change(doc) }
	}
	tests := []struct {
		name    string
		change  func(map[string]any)
		field   string // relative to the workload
		message string // prefix
	}{
		{"job name not following the convention is refused", setSpecific("jobName", "jn"),
			"specific.jobName", "Job name not valid: expected \"finance-cashflow-0-spark-wl-development\""},
		{"job name comparison is case sensitive", setSpecific("jobName", "Finance-cashflow-0-spark-wl-development"),
			"specific.jobName", "Job name not valid"},
		{"job name of a reference-style id follows the whole id", func(doc map[string]any) {
			workload(doc)["id"] = "urn:dmb:cmp:finance:cash.flow:0:spark-wl"
			doc["componentIdToProvision"] = "urn:dmb:cmp:finance:cash.flow:0:spark-wl"
		}, "specific.jobName", "Job name not valid: expected \"finance-cash-flow-0-spark-wl-development\""},
		{"empty class name is refused", setSpecific("className", ""), "specific.className", "Spark job class name must be non empty"},
		{"missing class name is refused", func(doc map[string]any) { delete(specific(doc), "className") },
			"specific.className", "Spark job class name must be non empty"},
		{"class name with spaces is refused", setSpecific("className", "com.example My App"),
			"specific.className", "Spark job class name must be a fully qualified Java class name"},
		{"python version other than python2/python3 is refused", py(setSpecific("pythonVersion", "3.7")),
			"specific.pythonVersion", `Python version must be one of "python2", "python3": got "3.7"`},
		{"missing python version is refused", py(func(doc map[string]any) { delete(specific(doc), "pythonVersion") }),
			"specific.pythonVersion", `Python version must be one of "python2", "python3": pythonVersion is missing`},
		{"requirements file not named requirements.txt is refused", pyEnv(setSpecific("requirementsFile", "s3://artifacts/x/reqs.txt")),
			"specific.requirementsFile", "Invalid Python environment settings"},
		{"requirements file outside S3 is refused", pyEnv(setSpecific("requirementsFile", "/tmp/requirements.txt")),
			"specific.requirementsFile", "Invalid Python environment settings"},
		{"pyMirror that is not a URL is refused", pyEnv(setSpecific("pyMirror", "pypi.example.com")),
			"specific.pyMirror", "pyMirror must be the http(s) URL"},
		{"pyMirror without requirements file is refused", py(setSpecific("pyMirror", "https://pypi.org/simple")),
			"specific.pyMirror", "pyMirror is set but requirementsFile is not"},
		{"zero driver cores are refused", set("driverCores", 0), "specific.jobConfig.driverCores", "If specified, driver cores must be a positive integer"},
		{"negative executor cores are refused", set("executorCores", -1), "specific.jobConfig.executorCores", "If specified, executor cores must be a positive integer"},
		{"zero executors are refused", set("numExecutors", 0), "specific.jobConfig.numExecutors", "If specified, num executors must be a positive integer"},
		{"driver memory in megabytes is refused", set("driverMemory", "2048m"), "specific.jobConfig.driverMemory", "If specified, driver memory must be a positive integer followed by 'g' (e.g. 2g)"},
		{"upper-case G memory is refused", set("executorMemory", "2G"), "specific.jobConfig.executorMemory", "If specified, executor memory must be a positive integer followed by 'g'"},
		{"gb memory suffix is refused", set("executorMemory", "2gb"), "specific.jobConfig.executorMemory", "If specified, executor memory"},
		{"zero gigabytes are refused", set("driverMemory", "0g"), "specific.jobConfig.driverMemory", "If specified, driver memory"},
		{"log level outside Spark's levels is refused", set("logLevel", "WARNING"), "specific.jobConfig.logLevel", "logLevel must be one of Spark's log levels"},
		{"lower-case log level is refused", set("logLevel", "info"), "specific.jobConfig.logLevel", "logLevel must be one of Spark's log levels"},
		{"empty conf key is refused", set("conf", map[string]any{"": "x"}), "specific.jobConfig.conf", "Spark conf keys must be non empty"},
		{"the idbroker hosts are the provisioner's to set", set("conf", map[string]any{"spark.cde.idBrokerHosts": "10.0.0.1"}),
			"specific.jobConfig.conf.spark.cde.idBrokerHosts", "Spark conf key reserved by the provisioner: spark.cde.idBrokerHosts"},
		{"so is the owner of the job", set("conf", map[string]any{"spark.cde-spark-provisioner.componentId": "urn:dmb:cmp:other:dp:0:wl"}),
			"specific.jobConfig.conf.spark.cde-spark-provisioner.componentId", "Spark conf key reserved by the provisioner"},
		{"conf value that is a list is refused", set("conf", map[string]any{"spark.x": []any{1}}), "specific.jobConfig.conf", "Spark conf values must be strings, numbers or booleans"},
		{"cron with four fields is refused", setSchedule("cronExpression", "5 * * *"), "specific.jobConfig.schedule.cronExpression", "Invalid cron expression: \"5 * * *\" has 4 fields"},
		{"cron with six fields (seconds) is refused", setSchedule("cronExpression", "0 5 * * * *"), "specific.jobConfig.schedule.cronExpression", "Invalid cron expression"},
		{"cron minute 60 is refused", setSchedule("cronExpression", "60 * * * *"), "specific.jobConfig.schedule.cronExpression", "Invalid cron expression: minute field \"60\": 60 is out of range 0-59"},
		{"cron hour 24 is refused", setSchedule("cronExpression", "0 24 * * *"), "specific.jobConfig.schedule.cronExpression", "Invalid cron expression: hour field"},
		{"cron day of month 0 is refused", setSchedule("cronExpression", "0 0 0 * *"), "specific.jobConfig.schedule.cronExpression", "Invalid cron expression: day-of-month field"},
		{"cron month 13 is refused", setSchedule("cronExpression", "0 0 1 13 *"), "specific.jobConfig.schedule.cronExpression", "Invalid cron expression: month field"},
		{"cron day of week 7 is refused", setSchedule("cronExpression", "0 0 * * 7"), "specific.jobConfig.schedule.cronExpression", "Invalid cron expression: day-of-week field"},
		{"cron backwards range is refused", setSchedule("cronExpression", "0 18-8 * * *"), "specific.jobConfig.schedule.cronExpression", "Invalid cron expression: hour field \"18-8\": range 18-8 runs backwards"},
		{"cron zero step is refused", setSchedule("cronExpression", "*/0 * * * *"), "specific.jobConfig.schedule.cronExpression", "Invalid cron expression: minute field"},
		{"cron quartz question mark is refused", setSchedule("cronExpression", "0 0 ? * MON"), "specific.jobConfig.schedule.cronExpression", "Invalid cron expression: day-of-month field"},
		{"cron macro is refused", setSchedule("cronExpression", "@daily"), "specific.jobConfig.schedule.cronExpression", "Invalid cron expression"},
		{"start date without Z is refused", setSchedule("startDate", "2025-01-01T00:00:00"), "specific.jobConfig.schedule.startDate", `startDate, endDate have to match the following pattern: "yyyy-MM-ddTHH:mm:ssZ"`},
		{"end date with offset is refused", setSchedule("endDate", "2026-01-01T00:00:00+01:00"), "specific.jobConfig.schedule.endDate", "startDate, endDate have to match"},
		{"date only is refused", setSchedule("startDate", "2025-01-01"), "specific.jobConfig.schedule.startDate", "startDate, endDate have to match"},
		{"impossible calendar date is refused", setSchedule("endDate", "2026-02-30T00:00:00Z"), "specific.jobConfig.schedule.endDate", "startDate, endDate have to match"},
		{"end date before start date is refused", setSchedule("endDate", "2024-01-01T00:00:00Z"), "specific.jobConfig.schedule.endDate", "schedule endDate must be after startDate"},
		{"end date equal to start date is refused", setSchedule("endDate", "2025-01-01T00:00:00Z"), "specific.jobConfig.schedule.endDate", "schedule endDate must be after startDate"},
		{"jar outside S3 is refused with the reference message", setSpecific("jar", "hdfs://nn/app.jar"), "specific.jar", "Job Source application file not found: \"hdfs://nn/app.jar\" is not an S3 location"},
		{"jar location naming a folder is refused", setSpecific("jar", "s3://artifacts/finance/"), "specific.jar", "Job Source application file not found"},
		{"jar without key is refused", setSpecific("jar", "s3://artifacts"), "specific.jar", "Job Source application file not found"},
		{"jar with an invalid bucket name is refused", setSpecific("jar", "s3://Artifacts_Bucket/app.jar"), "specific.jar", "Job Source application file not found"},
		{"jar named .. is refused", setSpecific("jar", "s3://artifacts/x/.."), "specific.jar", "Job Source application file not found"},
		{"jar name with a backslash is refused", setSpecific("jar", `s3://artifacts/x/..\evil.jar`), "specific.jar", "Job Source application file not found"},
		{"python file outside S3 is refused", py(setSpecific("pythonFile", "main.py")), "specific.pythonFile", "Job Source application file not found"},
		{"dependency outside S3 is refused with its index", set("dependencies", []any{"s3://artifacts/a.jar", "https://repo/b.jar"}),
			"specific.jobConfig.dependencies[1]", "Job Source dependencies not found"},
		{"dependency with the jar's file name is refused", set("dependencies", []any{"s3://other-bucket/v2/app.jar"}),
			"specific.jobConfig.dependencies[0]", "Two artifacts of the job have the same file name: \"app.jar\" is also the file name of dataProduct.components[1].specific.jar"},
		{"two dependencies with the same file name are refused", set("dependencies", []any{"s3://artifacts/a/lib.jar", "s3://artifacts/b/lib.jar"}),
			"specific.jobConfig.dependencies[1]", "Two artifacts of the job have the same file name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := descriptorDoc()
			tt.change(doc)
			_, problems := descriptor.Check(marshal(t, doc))
			require.Len(t, problems, 1, "problems: %v", problems)
			p := problems[0]
			assert.Equal(t, wl+tt.field, p.Field)
			assert.True(t, strings.HasPrefix(p.Message, tt.message), "message %q should start with %q", p.Message, tt.message)
			assert.NotEmpty(t, p.Solution)
			assert.True(t, strings.HasSuffix(p.Solution, "."), "a solution is a sentence: %q", p.Solution)
		})
	}
}

func TestRuleProblemsPointAtTheYAMLLine(t *testing.T) {
	text := `dataProduct:
  id: urn:dmb:dp:finance:cashflow:0
  environment: development
  components:
    - kind: workload
      id: urn:dmb:cmp:finance:cashflow:0:spark-wl
      specific:
        cdeService: cde-dev
        cdeCluster: vc-dev
        jobName: finance-cashflow-0-spark-wl-development
        jar: s3://artifacts/app.jar
        className: com.example.App
        jobConfig:
          driverMemory: 2048m
componentIdToProvision: urn:dmb:cmp:finance:cashflow:0:spark-wl
`
	_, problems := descriptor.Check(text)
	require.Len(t, problems, 1)
	assert.Equal(t, "dataProduct.components[0].specific.jobConfig.driverMemory", problems[0].Field)
	assert.Equal(t, 14, problems[0].Line)
	assert.Equal(t, 25, problems[0].Column)
	assert.Contains(t, problems[0].String(), "line 14, column 25")
}

// The reference test 5.1#9: errors accumulate, in rule order.
func TestAllProblemsAreReportedAtOnceInRuleOrder(t *testing.T) {
	doc := descriptorDoc()
	specific(doc)["jar"] = "not-s3"
	jc := jobConfig(doc)
	jc["driverCores"], jc["driverMemory"], jc["executorCores"], jc["executorMemory"], jc["numExecutors"] = 0, "1m", 0, "1m", 0
	_, problems := descriptor.Check(marshal(t, doc))
	want := []string{
		"Job Source application file not found",
		"If specified, driver cores must be a positive integer",
		"If specified, driver memory must be a positive integer followed by 'g' (e.g. 2g)",
		"If specified, executor cores must be a positive integer",
		"If specified, executor memory must be a positive integer followed by 'g' (e.g. 2g)",
		"If specified, num executors must be a positive integer",
	}
	require.Len(t, problems, len(want), "%v", problems)
	for i, w := range want {
		assert.True(t, strings.HasPrefix(problems[i].Message, w), "problem %d: %q should start with %q", i, problems[i].Message, w)
	}
	assert.Equal(t, "", problems.Field(), "several fields are at fault")
	assert.Len(t, problems.Messages(), len(want))
}

func TestValidateAcceptsADescriptorThatCameThroughJSON(t *testing.T) {
	// Workflows carry the decoded descriptor as JSON; positions are lost but rules still apply.
	d, problems := descriptor.Check(marshal(t, descriptorDoc()))
	require.Empty(t, problems)
	d.Component.Specific.JobName = "wrong"
	data, err := json.Marshal(d)
	require.NoError(t, err)
	var roundTripped descriptor.Descriptor
	require.NoError(t, json.Unmarshal(data, &roundTripped))
	ps := descriptor.Validate(&roundTripped)
	require.Len(t, ps, 1)
	assert.Equal(t, wl+"specific.jobName", ps[0].Field)
}

func TestUnprovisionIsBlockedOnlyByWhatDeletingNeeds(t *testing.T) {
	tests := []struct {
		name   string
		change func(map[string]any)
		field  string // "" when unprovision may go ahead
	}{
		{"a valid descriptor", func(map[string]any) {}, ""},
		{"a jar location that is no longer valid", func(doc map[string]any) { specific(doc)["jar"] = "hdfs://x" }, ""},
		{"a bad memory setting", func(doc map[string]any) { jobConfig(doc)["driverMemory"] = "2G" }, ""},
		{"a wrongly typed jobConfig field", func(doc map[string]any) { jobConfig(doc)["driverCores"] = "two" }, ""},
		{"a specific mixing kinds", func(doc map[string]any) { specific(doc)["pythonFile"] = "s3://a/b.py" }, ""},
		{"a job name not following the convention", func(doc map[string]any) { specific(doc)["jobName"] = "other-job" }, wl + "specific.jobName"},
		{"a missing service", func(doc map[string]any) { delete(specific(doc), "cdeService") }, wl + "specific.cdeService"},
		{"a malformed component id", func(doc map[string]any) {
			workload(doc)["id"] = "x"
			doc["componentIdToProvision"] = "x"
		}, wl + "id"},
		{"a missing environment", func(doc map[string]any) { delete(dataProduct(doc), "environment") }, "dataProduct.environment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := descriptorDoc()
			tt.change(doc)
			req := descriptor.Request{DescriptorKind: descriptor.ComponentDescriptor, Descriptor: marshal(t, doc)}
			d, problems := req.CheckUnprovision()
			if tt.field == "" {
				require.Empty(t, problems)
				require.NotNil(t, d)
				return
			}
			require.Len(t, problems, 1, "%v", problems)
			assert.Equal(t, tt.field, problems[0].Field)
		})
	}
}
