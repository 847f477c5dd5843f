package cdesim_test

import (
	"strings"
	"testing"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

func TestSeedAllowsOneServiceNameInSeveralEnvironments(t *testing.T) {
	seed, err := cdesim.ParseSeed([]byte(`
services:
  - {name: twin, environmentName: env-east, virtualClusters: [{name: vc}]}
  - {name: twin, environmentName: env-west, virtualClusters: [{name: vc}]}
  - {name: twin, environmentName: env-east, status: ClusterDeletionCompleted}
`))
	if err != nil {
		t.Fatalf("same-named services of different environments: %v", err)
	}
	_, err = cdesim.ParseSeed([]byte(`
services:
  - {name: twin, environmentName: env-east}
  - {name: twin, environmentName: env-east}
`))
	if err == nil || !strings.Contains(err.Error(), `duplicate live service name "twin" in environment "env-east"`) {
		t.Errorf("two live services of one name in one environment: %v", err)
	}

	clock := cdesim.NewManualClock(t0)
	sim := cdesim.StartForTest(t, cdesim.Seed{APIKeys: cdesim.DemoSeed().APIKeys, Services: seed.Services}, cdesim.Options{Now: clock.Now})
	e := &env{sim: sim, clock: clock, http: sim.Client()}
	r := e.cp(t, demoSigner, "de/listServices", map[string]any{"removeDeleted": true})
	wantStatus(t, r, 200)
	var envs []string
	for _, s := range r.json(t)["services"].([]any) {
		s := s.(map[string]any)
		if s["name"] == "twin" && s["status"] != cdesim.StatusServiceDeleted {
			envs = append(envs, s["environmentName"].(string))
		}
	}
	if strings.Join(envs, ",") != "env-east,env-west" {
		t.Errorf("listServices lists live twins in %v, want env-east,env-west", envs)
	}
	named := sim.ServicesNamed("twin")
	if len(named) != 3 || named[0].EnvironmentName != "env-east" || named[1].EnvironmentName != "env-west" || named[2].Status != cdesim.StatusServiceDeleted {
		t.Errorf("ServicesNamed(twin) = %+v", named)
	}
	if len(sim.ServicesNamed("nope")) != 0 {
		t.Error("ServicesNamed of an unknown name is empty")
	}
}

func TestDatalakesWithoutIdbrokerIPs(t *testing.T) {
	e := newEnv(t, cdesim.Options{})
	e.sim.AddDatalake(cdesim.DatalakeSeed{
		Name: "dl-no-ips", EnvironmentName: "env-no-ips", EnvironmentCRN: "crn:env-no-ips",
		InstanceGroups: []cdesim.InstanceGroupSeed{
			{Name: "master", Instances: []cdesim.InstanceSeed{{PrivateIP: "10.9.0.1"}}},
			{Name: "idbroker", Instances: []cdesim.InstanceSeed{{DiscoveryFQDN: "idb0.example", State: "STOPPED"}}},
		},
	})
	e.sim.AddDatalake(cdesim.DatalakeSeed{Name: "dl-empty-group", EnvironmentCRN: "crn:env-empty",
		InstanceGroups: []cdesim.InstanceGroupSeed{{Name: "idbroker"}}})
	e.sim.AddDatalake(cdesim.DatalakeSeed{Name: "dl-no-group", EnvironmentCRN: "crn:env-no-group",
		InstanceGroups: []cdesim.InstanceGroupSeed{{Name: "master", Instances: []cdesim.InstanceSeed{{PrivateIP: "10.9.0.2"}}}}})

	groups := func(name string) map[string][]any {
		t.Helper()
		r := e.cp(t, demoSigner, "datalake/describeDatalake", map[string]any{"datalakeName": name})
		wantStatus(t, r, 200)
		out := map[string][]any{}
		for _, g := range r.json(t)["datalake"].(map[string]any)["instanceGroups"].([]any) {
			g := g.(map[string]any)
			out[g["name"].(string)] = g["instances"].([]any)
		}
		return out
	}
	g := groups("dl-no-ips")
	if len(g["idbroker"]) != 1 {
		t.Fatalf("idbroker instances %v", g["idbroker"])
	}
	if in := g["idbroker"][0].(map[string]any); in["privateIp"] != nil || in["id"] == "" || in["state"] != "STOPPED" {
		t.Errorf("an instance without a private IP has no privateIp field: %v", in)
	}
	if g := groups("dl-empty-group"); g["idbroker"] == nil || len(g["idbroker"]) != 0 {
		t.Errorf("an idbroker group without instances lists an empty array: %v", g)
	}
	if _, ok := groups("dl-no-group")["idbroker"]; ok {
		t.Error("a datalake without an idbroker group lists none")
	}
}
