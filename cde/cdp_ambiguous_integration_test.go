package cde_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

func TestFindServiceAmbiguityAgainstTheSimulator(t *testing.T) {
	seed := cdesim.DemoSeed()
	seed.Services = append(seed.Services,
		cdesim.ServiceSeed{Name: "twin", EnvironmentName: "env-east", VirtualClusters: []cdesim.VCSeed{{Name: "vc"}}},
		cdesim.ServiceSeed{Name: "twin", EnvironmentName: "env-west", VirtualClusters: []cdesim.VCSeed{{Name: "vc"}}},
	)
	e := startEnv(t, seed, cdesim.Options{})
	_, err := e.cdp.FindService(context.Background(), "twin")
	amb, ok := errors.AsType[*cde.AmbiguousServiceError](err)
	if !ok {
		t.Fatalf("FindService(twin) err = %v; want an *cde.AmbiguousServiceError", err)
	}
	var envs []string
	for _, s := range amb.Services {
		envs = append(envs, s.EnvironmentName)
	}
	if !slices.Equal(envs, []string{"env-east", "env-west"}) {
		t.Errorf("environments = %v", envs)
	}
}
