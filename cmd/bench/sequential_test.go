package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
)

// The sequential client against the simulator and a local S3: it must really deploy the job
// (resource with every artifact, job mounting it), or figure 1 would compare with nothing.
func TestSequentialClientDeploysTheJob(t *testing.T) {
	ctx := context.Background()
	sim := cdesim.StartForTest(t, cdesim.DemoSeed(), cdesim.Options{})
	s3, err := s3local.Start(ctx, s3local.Options{Buckets: []string{artifactBucket}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s3.Close() })
	set, err := putArtifacts(ctx, s3, "bench/wall", 3000, 2, 1000)
	if err != nil {
		t.Fatal(err)
	}
	q, err := newSequentialClient(sequentialConfig{
		CDPEndpoint: sim.ControlPlaneURL(), AccessKeyID: cdesim.DemoAccessKeyID, PrivateKey: cdesim.DemoPrivateKey,
		User: cdesim.DemoUser, Password: cdesim.DemoPassword,
		S3Endpoint: s3.URL(), S3Region: "us-east-1", S3AccessKey: "k", S3SecretKey: "s",
		HTTP: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sim.CertPool()}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	job := set.job("wall-s1")

	for i := range 2 { // the second deploy updates (PATCH) what the first created
		sim.ResetRequests()
		if _, err := q.deploy(ctx, job, cdesim.DemoService, cdesim.DemoVC); err != nil {
			t.Fatalf("deploy %d: %v", i+1, err)
		}
		recs := sim.Requests()
		// One call at a time, never overlapping.
		if n := maxConcurrent(recs, func(cdesim.RequestRecord) bool { return true }); n != 1 {
			t.Errorf("deploy %d: %d calls in flight at once, want 1", i+1, n)
		}
		if got := countCalls(recs).Uploads; got != 3 {
			t.Errorf("deploy %d: %d uploads, want 3", i+1, got)
		}
		last := recs[len(recs)-1]
		if last.Method != http.MethodGet || !strings.HasSuffix(last.Path, "/jobs/"+job.JobName()) {
			t.Errorf("deploy %d: last call %s %s, want the GET of the job", i+1, last.Method, last.Path)
		}
	}
	var patched bool
	for _, r := range sim.Requests() {
		patched = patched || r.Method == http.MethodPatch
	}
	if !patched {
		t.Error("the second deploy did not PATCH the existing job")
	}

	vc, _ := sim.VC(cdesim.DemoService, cdesim.DemoVC)
	res, err := sim.Resource(vc.VCID, descriptor.MainResourceName(job.JobName()))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, f := range res.Files {
		paths = append(paths, f.Path)
		if want := sizeOf(set, f.Path); f.Size != want {
			t.Errorf("%s: %d bytes, want %d", f.Path, f.Size, want)
		}
	}
	if strings.Join(paths, ",") != "app.jar,dep-01.jar,dep-02.jar" {
		t.Errorf("resource files %v", paths)
	}
	raw, err := sim.Job(vc.VCID, job.JobName())
	if err != nil {
		t.Fatal(err)
	}
	var stored struct {
		Mounts []struct{ ResourceName string } `json:"mounts"`
		Spark  struct {
			File string   `json:"file"`
			Jars []string `json:"jars"`
		} `json:"spark"`
	}
	if err := json.Unmarshal(raw, &stored); err != nil {
		t.Fatal(err)
	}
	if stored.Spark.File != "app.jar" || strings.Join(stored.Spark.Jars, ",") != "dep-01.jar,dep-02.jar" ||
		len(stored.Mounts) != 1 || stored.Mounts[0].ResourceName != res.Name {
		t.Errorf("job %s", raw)
	}
}

// sizeOf is the size of the set's object whose basename is name.
func sizeOf(set artifactSet, name string) int64 {
	for key, size := range set.Sizes {
		if key == name || strings.HasSuffix(key, "/"+name) {
			return size
		}
	}
	return -1
}
