package descriptor_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

func TestRequestEnvelope(t *testing.T) {
	valid := marshal(t, descriptorDoc())
	tests := []struct {
		name    string
		kind    string
		message string
	}{
		{"component descriptor is accepted", "COMPONENT_DESCRIPTOR", ""},
		{"data product descriptor is refused naming the expected kind", "DATAPRODUCT_DESCRIPTOR",
			"descriptorKind not supported: expected 'COMPONENT_DESCRIPTOR', got 'DATAPRODUCT_DESCRIPTOR'"},
		{"descriptor with results is refused", "DATAPRODUCT_DESCRIPTOR_WITH_RESULTS", "descriptorKind not supported"},
		{"lower-case kind is refused", "component_descriptor", "descriptorKind not supported"},
		{"missing kind is refused", "", "descriptorKind not supported: expected 'COMPONENT_DESCRIPTOR', it is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := descriptor.Request{DescriptorKind: tt.kind, Descriptor: valid}
			d, problems := req.Check()
			if tt.message == "" {
				require.Empty(t, problems)
				require.NotNil(t, d)
				return
			}
			require.Len(t, problems, 1)
			assert.Nil(t, d)
			assert.Equal(t, "descriptorKind", problems[0].Field)
			assert.Equal(t, "descriptorKind", problems.Field())
			assert.True(t, strings.HasPrefix(problems[0].Message, tt.message), problems[0].Message)
		})
	}
}

func TestDecodeKeepsTheFieldsTheProvisionerNeeds(t *testing.T) {
	d, problems := descriptor.Decode(marshal(t, descriptorDoc()))
	require.Empty(t, problems)
	assert.Equal(t, descriptor.DataProduct{
		ID: "urn:dmb:dp:finance:cashflow:0", Name: "cashflow", Domain: "finance", Environment: "development",
		Version: "0.1.0", Owner: "user:jane.doe_acme.com", DevGroup: "group:finance-dev", OwnerGroup: "jane.doe_acme.com",
	}, d.DataProduct)
	assert.Equal(t, "urn:dmb:cmp:finance:cashflow:0:spark-wl", d.ComponentID)
	assert.Equal(t, 1, d.ComponentIndex)
	w := d.Component
	assert.Equal(t, "Spark CDP Workload", w.Name)
	s := w.Specific
	assert.Equal(t, descriptor.SparkJar, s.Kind)
	assert.Equal(t, "cde-dev", s.CDEService)
	assert.Equal(t, "vc-dev", s.CDECluster)
	assert.Equal(t, "s3://artifacts/finance/cashflow/app.jar", s.AppFile())
	assert.Equal(t, "com.example.App", s.ClassName)
	jc := s.JobConfig
	require.NotNil(t, jc)
	assert.Equal(t, []string{"--day", "1"}, jc.Args)
	assert.Equal(t, 1, *jc.DriverCores)
	assert.Equal(t, "4g", *jc.ExecutorMemory)
	assert.Equal(t, 3, *jc.NumExecutors)
	assert.Equal(t, map[string]string{"spark.sql.shuffle.partitions": "64"}, jc.Conf)
	assert.Equal(t, &descriptor.Schedule{CronExpression: "5 * * * *", StartDate: "2025-01-01T00:00:00Z", EndDate: "2026-01-01T00:00:00Z"}, jc.Schedule)
	assert.Equal(t, "dataProduct.components[1].specific.jobConfig.driverMemory", d.Path("specific.jobConfig.driverMemory"))
}

func TestDecodeProblems(t *testing.T) {
	tests := []struct {
		name    string
		change  func(doc map[string]any)
		field   string
		message string // prefix
	}{
		{"missing componentIdToProvision", func(doc map[string]any) { delete(doc, "componentIdToProvision") },
			"componentIdToProvision", "componentIdToProvision is missing or empty"},
		{"empty componentIdToProvision", func(doc map[string]any) { doc["componentIdToProvision"] = "  " },
			"componentIdToProvision", "componentIdToProvision is missing or empty"},
		{"component not in the list is one problem, not twenty", func(doc map[string]any) {
			doc["componentIdToProvision"] = "urn:dmb:cmp:finance:cashflow:0:other"
		}, "componentIdToProvision", "The component with ID 'urn:dmb:cmp:finance:cashflow:0:other' wasn't found in the received descriptor"},
		{"component of another kind is refused", func(doc map[string]any) {
			doc["componentIdToProvision"] = "urn:dmb:cmp:finance:cashflow:0:op"
		}, "dataProduct.components[2].kind", "The component with ID 'urn:dmb:cmp:finance:cashflow:0:op' is of kind 'outputport', but this provisioner deploys only components of kind 'workload'"},
		{"component without kind is refused", func(doc map[string]any) { delete(workload(doc), "kind") },
			wl + "kind", "Couldn't retrieve 'kind' field for the component with ID"},
		{"component id without urn:dmb:cmp: is a clear problem, not a crash", func(doc map[string]any) {
			workload(doc)["id"] = "finance.cashflow.0.spark-wl"
			doc["componentIdToProvision"] = "finance.cashflow.0.spark-wl"
		}, wl + "id", "The component id 'finance.cashflow.0.spark-wl' is not a component id: it must start with urn:dmb:cmp: followed by the rest of the id"},
		{"component id with nothing after urn:dmb:cmp: is refused", func(doc map[string]any) {
			workload(doc)["id"] = "urn:dmb:cmp:"
			doc["componentIdToProvision"] = "urn:dmb:cmp:"
		}, wl + "id", "The component id 'urn:dmb:cmp:' is not a component id"},
		{"duplicate component id is refused", func(doc map[string]any) {
			comps := dataProduct(doc)["components"].([]any)
			dataProduct(doc)["components"] = append(comps, map[string]any{"kind": "workload", "id": "urn:dmb:cmp:finance:cashflow:0:spark-wl"})
		}, "dataProduct.components[3].id", "The component with ID 'urn:dmb:cmp:finance:cashflow:0:spark-wl' appears 2 times"},
		{"missing specific is refused", func(doc map[string]any) { delete(workload(doc), "specific") },
			wl + "specific", "The component with ID 'urn:dmb:cmp:finance:cashflow:0:spark-wl' has no specific"},
		{"specific that is a string is refused", func(doc map[string]any) { workload(doc)["specific"] = "spark" },
			wl + "specific", `dataProduct.components[1].specific must be a mapping, got "spark"`},
		{"specific mixing jar and pythonFile is refused, not guessed", func(doc map[string]any) {
			specific(doc)["pythonFile"] = "s3://artifacts/main.py"
		}, wl + "specific", "The specific mixes a Spark jar job (jar, className) with a PySpark job (pythonFile)"},
		{"specific with no application is refused", func(doc map[string]any) {
			delete(specific(doc), "jar")
			delete(specific(doc), "className")
		}, wl + "specific", "The specific does not say what to run"},
		{"missing cdeService is refused", func(doc map[string]any) { delete(specific(doc), "cdeService") },
			wl + "specific.cdeService", "dataProduct.components[1].specific.cdeService is missing"},
		{"empty cdeCluster is refused", func(doc map[string]any) { specific(doc)["cdeCluster"] = "" },
			wl + "specific.cdeCluster", "dataProduct.components[1].specific.cdeCluster is empty"},
		{"missing jobName is refused", func(doc map[string]any) { delete(specific(doc), "jobName") },
			wl + "specific.jobName", "dataProduct.components[1].specific.jobName is missing"},
		{"missing jar with className is refused", func(doc map[string]any) { delete(specific(doc), "jar") },
			wl + "specific.jar", "dataProduct.components[1].specific.jar is missing"},
		{"driverCores that is a word is a type problem", func(doc map[string]any) { jobConfig(doc)["driverCores"] = "two" },
			wl + "specific.jobConfig.driverCores", `dataProduct.components[1].specific.jobConfig.driverCores must be a whole number without quotes, got "two"`},
		{"driverCores with a fraction is a type problem", func(doc map[string]any) { jobConfig(doc)["driverCores"] = 1.5 },
			wl + "specific.jobConfig.driverCores", "dataProduct.components[1].specific.jobConfig.driverCores must be a whole number without quotes, got the number 1.5"},
		{"huge numExecutors is out of range", func(doc map[string]any) { jobConfig(doc)["numExecutors"] = int64(1) << 40 },
			wl + "specific.jobConfig.numExecutors", "dataProduct.components[1].specific.jobConfig.numExecutors is out of range"},
		{"args that is a string is a type problem", func(doc map[string]any) { jobConfig(doc)["args"] = "--day 1" },
			wl + "specific.jobConfig.args", "dataProduct.components[1].specific.jobConfig.args must be a list of strings"},
		{"dependency that is a mapping is a type problem with its index", func(doc map[string]any) {
			jobConfig(doc)["dependencies"] = []any{"s3://artifacts/a.jar", map[string]any{"s3": "b"}}
		}, wl + "specific.jobConfig.dependencies[1]", "dataProduct.components[1].specific.jobConfig.dependencies[1] must be a string, got a mapping"},
		{"conf that is a list is a type problem", func(doc map[string]any) { jobConfig(doc)["conf"] = []any{"a=b"} },
			wl + "specific.jobConfig.conf", "dataProduct.components[1].specific.jobConfig.conf must be a mapping"},
		{"jobConfig that is a list is a type problem", func(doc map[string]any) { specific(doc)["jobConfig"] = []any{} },
			wl + "specific.jobConfig", "dataProduct.components[1].specific.jobConfig must be a mapping, got a list"},
		{"schedule without cronExpression is refused", func(doc map[string]any) {
			delete(jobConfig(doc)["schedule"].(map[string]any), "cronExpression")
		}, wl + "specific.jobConfig.schedule.cronExpression", "dataProduct.components[1].specific.jobConfig.schedule.cronExpression is missing"},
		{"schedule that is a string is refused", func(doc map[string]any) { jobConfig(doc)["schedule"] = "daily" },
			wl + "specific.jobConfig.schedule", "dataProduct.components[1].specific.jobConfig.schedule must be a mapping with cronExpression, startDate and endDate, or null"},
		{"missing environment is refused", func(doc map[string]any) { delete(dataProduct(doc), "environment") },
			"dataProduct.environment", "dataProduct.environment is missing"},
		{"data product id that is a mapping is a type problem", func(doc map[string]any) { dataProduct(doc)["id"] = map[string]any{"x": 1} },
			"dataProduct.id", "dataProduct.id must be a string, got a mapping"},
		{"missing dataProduct is refused", func(doc map[string]any) { delete(doc, "dataProduct") },
			"dataProduct", "dataProduct is missing"},
		{"dataProduct that is a list is refused", func(doc map[string]any) { doc["dataProduct"] = []any{1} },
			"dataProduct", "dataProduct must be a mapping, got a list"},
		{"missing components is refused", func(doc map[string]any) { delete(dataProduct(doc), "components") },
			"dataProduct.components", "dataProduct.components is missing or empty"},
		{"components that is a mapping is refused", func(doc map[string]any) { dataProduct(doc)["components"] = map[string]any{} },
			"dataProduct.components", "dataProduct.components must be a list of components, got a mapping"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := descriptorDoc()
			tt.change(doc)
			_, problems := descriptor.Check(marshal(t, doc))
			require.Len(t, problems, 1, "problems: %v", problems)
			p := problems[0]
			assert.Equal(t, tt.field, p.Field)
			assert.True(t, strings.HasPrefix(p.Message, tt.message), "message %q should start with %q", p.Message, tt.message)
			assert.NotEmpty(t, p.Solution)
		})
	}
}

func TestOtherComponentsAreNeverJudged(t *testing.T) {
	text := `dataProduct:
  id: urn:dmb:dp:finance:cashflow:0
  environment: development
  components:
    - "not even a mapping"
    - kind: storage
      id: urn:dmb:cmp:finance:cashflow:0:raw
      id2: x
      specific: [1, 2, 3]
      kind2: {a: 1, a: 2}
    - kind: workload
      id: urn:dmb:cmp:finance:cashflow:0:spark-wl
      specific:
        cdeService: cde-dev
        cdeCluster: vc-dev
        jobName: finance-cashflow-0-spark-wl-development
        jar: s3://artifacts/app.jar
        className: com.example.App
componentIdToProvision: urn:dmb:cmp:finance:cashflow:0:spark-wl
`
	d, problems := descriptor.Check(text)
	require.Empty(t, problems)
	assert.Equal(t, 2, d.ComponentIndex)
}

func TestDuplicateKeysAreRefused(t *testing.T) {
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
          driverMemory: 2g
          driverMemory: 4g
componentIdToProvision: urn:dmb:cmp:finance:cashflow:0:spark-wl
`
	_, problems := descriptor.Check(text)
	require.Len(t, problems, 1)
	assert.Equal(t, "dataProduct.components[0].specific.jobConfig.driverMemory", problems[0].Field)
	assert.Contains(t, problems[0].Message, "is given more than once")
	assert.Equal(t, 15, problems[0].Line)
}

func TestYAMLSyntaxProblems(t *testing.T) {
	// The descriptor of the template with the cron rendered unquoted: line 17.
	unquotedCron := `dataProduct:
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
          schedule:
            startDate: 2025-01-01T00:00:00Z
            endDate: 2026-01-01T00:00:00Z
            cronExpression: %s
componentIdToProvision: urn:dmb:cmp:finance:cashflow:0:spark-wl
`
	tests := []struct {
		name     string
		text     string
		line     int
		column   int
		message  string // substring
		solution string // substring
	}{
		{"unquoted cron starting with * says it must be quoted", fmt.Sprintf(unquotedCron, "*/5 * * * *"), 17, 29,
			`the value of cronExpression starts with "*", which YAML reads as an alias; it must be quoted`, `cronExpression: "*/5 * * * *"`},
		{"unquoted cron that names an unknown alias says it must be quoted", fmt.Sprintf(unquotedCron, "*five"), 17, 29,
			`starts with "*", which YAML reads as an alias`, `cronExpression: "*five"`},
		{"value starting with & says it must be quoted", fmt.Sprintf(unquotedCron, "& 5 * * *"), 17, 29,
			`starts with "&", which YAML reads as an anchor`, `cronExpression: "& 5 * * *"`},
		{"list item starting with * says it must be quoted", "dataProduct:\n  components:\n    - * x\n", 3, 7,
			"a value starts with \"*\"", `"* x"`},
		{"tab indentation is located", "dataProduct:\n\tid: x\n", 2, 1, "indentation uses a tab", "spaces"},
		{"unclosed flow sequence has a line", "dataProduct: [1, 2\ncomponentIdToProvision: x\n", 1, 0, "not valid YAML at line 1", ""},
		{"unterminated quote is a YAML problem", "dataProduct: \"abc\n", 2, 0, "The descriptor is not valid YAML at line 2", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, problems := descriptor.Check(tt.text)
			assert.Nil(t, d)
			require.Len(t, problems, 1, "%v", problems)
			p := problems[0]
			assert.Equal(t, "descriptor", p.Field)
			assert.Contains(t, p.Message, tt.message)
			assert.Contains(t, p.Solution, tt.solution)
			assert.Equal(t, tt.line, p.Line)
			assert.Equal(t, tt.column, p.Column)
		})
	}
}

// Every class of bad input gets a problem value, never a panic.
func TestBadInput(t *testing.T) {
	aliasBomb := `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`
	// The alias bomb inside the component: args would expand to 9^8 strings if decoded naively.
	bombInField := aliasBomb + `dataProduct:
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
          args: *i
          conf: *i
componentIdToProvision: urn:dmb:cmp:finance:cashflow:0:spark-wl
`
	tests := []struct {
		name    string
		text    string
		field   string
		message string // substring
	}{
		{"empty descriptor", "", "descriptor", "The descriptor is empty"},
		{"blank descriptor", " \n\t\n", "descriptor", "The descriptor is empty"},
		{"text that is not YAML", "{{{ not yaml", "descriptor", "The descriptor is not valid YAML"},
		{"a YAML scalar", "xxx", "descriptor", `must be a YAML mapping with the keys dataProduct and componentIdToProvision, got "xxx"`},
		{"a YAML list", "- a\n- b\n", "descriptor", "must be a YAML mapping with the keys dataProduct and componentIdToProvision, got a list"},
		{"a YAML number", "42", "descriptor", "got the number 42"},
		{"JSON null", "null", "descriptor", "got nothing (null)"},
		{"two YAML documents", marshal(t, descriptorDoc()) + "---\nfoo: bar\n", "descriptor", "more than one YAML document"},
		{"invalid UTF-8", "dataProduct:\n  name: caf\xe9\n", "descriptor", "not valid UTF-8 (line 2, column 12)"},
		{"an alias bomb at the top level", aliasBomb, "componentIdToProvision", "componentIdToProvision is missing"},
		{"an alias bomb inside a read field", bombInField, "dataProduct.components[0].specific.jobConfig.args[0]", "must be a string, got a list"},
		{"10,000 levels of nesting", strings.Repeat("[", 10000) + strings.Repeat("]", 10000), "descriptor", "must be a YAML mapping"},
		{"100,000 levels of nesting", strings.Repeat("[", 100000) + strings.Repeat("]", 100000), "descriptor", "exceeded max depth"},
		{"a 20 MiB descriptor is refused before parsing", "dataProduct:\n  junk: " + strings.Repeat("x", 20<<20) + "\n", "descriptor",
			fmt.Sprintf("above the limit of %d bytes", descriptor.MaxDescriptorBytes)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var problems descriptor.Problems
			require.NotPanics(t, func() { _, problems = descriptor.Check(tt.text) })
			require.NotEmpty(t, problems)
			assert.Equal(t, tt.field, problems[0].Field, "%v", problems)
			assert.Contains(t, problems[0].Message, tt.message)
		})
	}
}

func TestMalformedComponentIDStillReportsTheOtherProblems(t *testing.T) {
	doc := descriptorDoc()
	workload(doc)["id"] = "finance.cashflow.0.spark-wl"
	doc["componentIdToProvision"] = "finance.cashflow.0.spark-wl"
	jobConfig(doc)["driverMemory"] = "2G"
	_, problems := descriptor.Check(marshal(t, doc))
	require.Len(t, problems, 2, "%v", problems)
	assert.Equal(t, wl+"id", problems[0].Field)
	assert.Equal(t, wl+"specific.jobConfig.driverMemory", problems[1].Field, "no job-name problem repeating the id's")
}
