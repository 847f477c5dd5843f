package cdesim_test

import (
	"context"
	"fmt"
	"log"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

// A client test starts the simulator, points the client at its URLs and
// CA, and injects faults on routes.
func Example() {
	sim, err := cdesim.Start(context.Background(), cdesim.DemoSeed(), cdesim.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer sim.Close()

	dev, _ := sim.VC(cdesim.DemoService, cdesim.DemoVC)
	_ = sim.ControlPlaneURL() // CDP_ENDPOINT_URL; sign with DemoAccessKeyID / DemoPrivateKey
	_ = sim.Client()          // an *http.Client trusting the simulator's CA
	_ = dev.APIURL            // the vcApiUrl describeVc returns

	// The next two listServices calls are throttled, then calls succeed.
	sim.FailNext("POST /api/v1/de/listServices", 2, cdesim.Failure{Status: 429, RetryAfter: "1"})

	fmt.Println(dev.Name, dev.Status)
	// Output: vc-dev AppInstalled
}
