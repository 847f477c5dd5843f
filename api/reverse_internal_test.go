package api

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

func reverseReq() ReverseProvisioningRequest {
	return ReverseProvisioningRequest{
		UseCaseTemplateID: "urn:dmb:utm:spark-workload-template:0.0.0",
		Environment:       "development",
		Params: map[string]any{"cdeService": "cde-dev", "cdeCluster": "vc-dev", "jobName": "legacy",
			"artifactsPrefix": "s3://artifacts/imports/legacy/"},
		CatalogInfo: map[string]any{"spec": map[string]any{"mesh": map[string]any{"id": "urn:dmb:cmp:finance:cashflow:0:wl"}}},
	}
}

func TestCheckReverseMakesTheWorkflowInput(t *testing.T) {
	in, ps := checkReverse(reverseReq())
	require.Empty(t, ps)
	assert.Equal(t, workflows.ReverseInput{Service: "cde-dev", Cluster: "vc-dev", JobName: "legacy", Prefix: "s3://artifacts/imports/legacy/",
		ComponentID: "urn:dmb:cmp:finance:cashflow:0:wl", Environment: "development",
		Scope: artifacts.Scope{Domain: "finance", DataProduct: "cashflow", Environment: "development"}}, in)

	// catalogInfo may come as the YAML text of catalog-info.yaml.
	req := reverseReq()
	req.CatalogInfo = "apiVersion: backstage.io/v1alpha1\nkind: Component\nspec:\n  mesh:\n    id: urn:dmb:cmp:my_dm.my_dp.1.my_wl\n"
	in, ps = checkReverse(req)
	require.Empty(t, ps)
	assert.Equal(t, "urn:dmb:cmp:my_dm.my_dp.1.my_wl", in.ComponentID)
	assert.Equal(t, artifacts.Scope{Environment: "development"}, in.Scope, "not the template's shape: no domain or data product")
}

func TestCheckReverseNamesEveryBadField(t *testing.T) {
	for name, tt := range map[string]struct {
		change func(*ReverseProvisioningRequest)
		fields []string
	}{
		"no params":      {func(r *ReverseProvisioningRequest) { r.Params = nil }, []string{"params.cdeService", "params.cdeCluster", "params.jobName", "params.artifactsPrefix"}},
		"a number":       {func(r *ReverseProvisioningRequest) { r.Params["jobName"] = 42 }, []string{"params.jobName"}},
		"blank":          {func(r *ReverseProvisioningRequest) { r.Params["cdeService"] = "  " }, []string{"params.cdeService"}},
		"not s3":         {func(r *ReverseProvisioningRequest) { r.Params["artifactsPrefix"] = "https://bucket/x/" }, []string{"params.artifactsPrefix"}},
		"no bucket":      {func(r *ReverseProvisioningRequest) { r.Params["artifactsPrefix"] = "s3:///x/" }, []string{"params.artifactsPrefix"}},
		"no environment": {func(r *ReverseProvisioningRequest) { r.Environment = "" }, []string{"environment"}},
		"no catalogInfo": {func(r *ReverseProvisioningRequest) { r.CatalogInfo = nil }, []string{"catalogInfo"}},
		"not a component": {func(r *ReverseProvisioningRequest) {
			r.CatalogInfo = map[string]any{"spec": map[string]any{"mesh": map[string]any{"id": "urn:dmb:dp:x"}}}
		}, []string{"catalogInfo"}},
		"catalogInfo YAML?": {func(r *ReverseProvisioningRequest) { r.CatalogInfo = "spec: [" }, []string{"catalogInfo"}},
	} {
		t.Run(name, func(t *testing.T) {
			req := reverseReq()
			tt.change(&req)
			_, ps := checkReverse(req)
			var fields []string
			for _, p := range ps {
				fields = append(fields, p.Field)
				assert.NotEmpty(t, p.Solution)
			}
			assert.Equal(t, tt.fields, fields)
		})
	}
}
