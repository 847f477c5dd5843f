package cdesim

import "context"

// Credentials and names of DemoSeed (and of examples/cdesim-seed.yaml, which
// holds the same state). They are public test values, not secrets.
const (
	DemoAccessKeyID = "4f2a6c1e-cdes-im00-demo-0123456789ab"
	// DemoPrivateKey is the Ed25519 seed in the CDP_PRIVATE_KEY format.
	DemoPrivateKey     = "HjCJRQtniiGhJTdG7kPXHuDA/IZXe2CuXfZJKlbW7rM="
	DemoUser           = "srv_cde_deployer"
	DemoPassword       = "cdesim-dev-password"
	DemoService        = "cde-dev"
	DemoVC             = "vc-dev"
	DemoEnvironment    = "dev-env"
	DemoEnvironmentCRN = "crn:cdp:environments:us-west-1:cdesim-tenant:environment:dev-env"
)

// DemoSeed is the local stack's seed: a running service cde-dev (environment
// dev-env) with running VC vc-dev, a recently deleted service cde-old, a
// running service cde-stage whose VC vc-stage is still being installed, and
// the dev-env datalake with two idbroker instances.
func DemoSeed() Seed {
	return Seed{
		Tenant:        "cdesim-tenant",
		APIKeys:       []APIKeySeed{{AccessKeyID: DemoAccessKeyID, PrivateKey: DemoPrivateKey}},
		WorkloadUsers: []UserSeed{{Name: DemoUser, Password: DemoPassword}},
		Services: []ServiceSeed{
			{
				Name: DemoService, ClusterID: "cluster-dev00001",
				EnvironmentName: DemoEnvironment, EnvironmentCRN: DemoEnvironmentCRN,
				Status:          StatusServiceRunning,
				VirtualClusters: []VCSeed{{Name: DemoVC, VCID: "dex-app-dev00001", Status: StatusVCRunning}},
			},
			{
				Name: "cde-old", ClusterID: "cluster-old00001",
				EnvironmentName: DemoEnvironment, EnvironmentCRN: DemoEnvironmentCRN,
				Status:          StatusServiceDeleted,
				VirtualClusters: []VCSeed{{Name: "vc-old", VCID: "dex-app-old00001", Status: StatusVCDeleted}},
			},
			{
				Name: "cde-stage", ClusterID: "cluster-stg00001",
				EnvironmentName: DemoEnvironment, EnvironmentCRN: DemoEnvironmentCRN,
				Status:          StatusServiceRunning,
				VirtualClusters: []VCSeed{{Name: "vc-stage", VCID: "dex-app-stg00001", Status: "AppInstalling"}},
			},
		},
		Datalakes: []DatalakeSeed{{
			Name: "dev-dl", EnvironmentName: DemoEnvironment, EnvironmentCRN: DemoEnvironmentCRN,
			InstanceGroups: []InstanceGroupSeed{
				{Name: "master", Instances: []InstanceSeed{{ID: "i-master0", PrivateIP: "10.10.0.5"}}},
				{Name: "idbroker", Instances: []InstanceSeed{
					{ID: "i-idbroker0", PrivateIP: "10.10.1.10", DiscoveryFQDN: "dev-dl-idbroker0.dev-env.cdesim.site"},
					{ID: "i-idbroker1", PrivateIP: "10.10.1.11", DiscoveryFQDN: "dev-dl-idbroker1.dev-env.cdesim.site"},
				}},
			},
		}},
	}
}

// TB is the part of testing.TB that StartForTest needs (so that this package
// does not import testing into binaries).
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// StartForTest starts a simulator for a test and closes it when the test
// ends; it fails the test if the simulator cannot start.
func StartForTest(t TB, seed Seed, opts Options) *Sim {
	t.Helper()
	s, err := Start(context.Background(), seed, opts)
	if err != nil {
		t.Fatalf("start cdesim: %v", err)
		return nil
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
