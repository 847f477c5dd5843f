package descriptor_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// descriptorDoc builds a valid Spark jar descriptor as Go maps, the workload at index 1 of three
// components (so paths show the index is right), for tests to change and marshal.
func descriptorDoc() map[string]any {
	return map[string]any{
		"dataProduct": map[string]any{
			"id":               "urn:dmb:dp:finance:cashflow:0",
			"name":             "cashflow",
			"domain":           "finance",
			"environment":      "development",
			"version":          "0.1.0",
			"dataProductOwner": "user:jane.doe_acme.com",
			"devGroup":         "group:finance-dev",
			"ownerGroup":       "jane.doe_acme.com",
			"components": []any{
				map[string]any{"kind": "storage", "id": "urn:dmb:cmp:finance:cashflow:0:raw", "specific": map[string]any{"bucket": 42}},
				map[string]any{
					"kind":        "workload",
					"id":          "urn:dmb:cmp:finance:cashflow:0:spark-wl",
					"name":        "Spark CDP Workload",
					"description": "Aggregates cash flows",
					"version":     "0.0.0",
					"specific": map[string]any{
						"cdeService": "cde-dev",
						"cdeCluster": "vc-dev",
						"jobName":    "finance-cashflow-0-spark-wl-development",
						"jar":        "s3://artifacts/finance/cashflow/app.jar",
						"className":  "com.example.App",
						"jobConfig": map[string]any{
							"args":           []any{"--day", "1"},
							"dependencies":   []any{"s3://artifacts/libs/dep1.jar"},
							"driverCores":    1,
							"driverMemory":   "2g",
							"executorCores":  2,
							"executorMemory": "4g",
							"numExecutors":   3,
							"logLevel":       "INFO",
							"conf":           map[string]any{"spark.sql.shuffle.partitions": "64"},
							"schedule": map[string]any{
								"cronExpression": "5 * * * *",
								"startDate":      "2025-01-01T00:00:00Z",
								"endDate":        "2026-01-01T00:00:00Z",
							},
						},
					},
				},
				map[string]any{"kind": "outputport", "id": "urn:dmb:cmp:finance:cashflow:0:op"},
			},
		},
		"componentIdToProvision": "urn:dmb:cmp:finance:cashflow:0:spark-wl",
	}
}

const wl = "dataProduct.components[1]."

func dataProduct(doc map[string]any) map[string]any { return doc["dataProduct"].(map[string]any) }

func workload(doc map[string]any) map[string]any {
	return dataProduct(doc)["components"].([]any)[1].(map[string]any)
}

func specific(doc map[string]any) map[string]any {
	return workload(doc)["specific"].(map[string]any)
}

func jobConfig(doc map[string]any) map[string]any {
	return specific(doc)["jobConfig"].(map[string]any)
}

func asPySpark(doc map[string]any) {
	s := specific(doc)
	delete(s, "jar")
	delete(s, "className")
	s["pythonFile"] = "s3://artifacts/finance/cashflow/main.py"
	s["pythonVersion"] = "python3"
	jobConfig(doc)["dependencies"] = []any{"s3://artifacts/libs/helpers.py"}
}

func asPySparkWithEnv(doc map[string]any) {
	asPySpark(doc)
	s := specific(doc)
	s["requirementsFile"] = "s3://artifacts/finance/cashflow/requirements.txt"
	s["pyMirror"] = "https://pypi.example.com/simple"
}

func marshal(t testing.TB, doc map[string]any) string {
	t.Helper()
	out, err := yaml.Marshal(doc)
	require.NoError(t, err)
	return string(out)
}
