package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

func testJob(component string, deps int) jobSpec {
	j := jobSpec{Component: component, Jar: descriptor.S3Location{Bucket: artifactBucket, Key: "bench/wall/app.jar"}}
	for i := range deps {
		j.Deps = append(j.Deps, descriptor.S3Location{Bucket: artifactBucket, Key: fmt.Sprintf("bench/wall/libs/dep-%02d.jar", i+1)})
	}
	return j
}

func TestDescriptorPassesEveryStaticRule(t *testing.T) {
	for _, deps := range []int{0, 1, 10} {
		t.Run(fmt.Sprintf("%d dependencies", deps), func(t *testing.T) {
			job := testJob("wall-p1", deps)
			text, err := job.descriptorYAML("cde-dev", "vc-dev")
			if err != nil {
				t.Fatal(err)
			}
			d, problems := descriptor.Request{DescriptorKind: descriptor.ComponentDescriptor, Descriptor: text}.Check()
			if len(problems) > 0 || d == nil {
				t.Fatalf("problems %v in:\n%s", problems, text)
			}
			s := d.Component.Specific
			if s.JobName != job.JobName() || s.JobName != "bench-perf-0-wall-p1-development" {
				t.Errorf("job name %q, want %q", s.JobName, job.JobName())
			}
			if s.CDEService != "cde-dev" || s.CDECluster != "vc-dev" || s.Kind != descriptor.SparkJar {
				t.Errorf("specific %+v", s)
			}
			arts := d.Artifacts()
			if len(arts) != deps+1 || arts[0].Location != job.Jar {
				t.Fatalf("artifacts %+v", arts)
			}
			for i, dep := range job.Deps {
				if arts[i+1].Location != dep {
					t.Errorf("artifact %d = %v, want %v", i+1, arts[i+1].Location, dep)
				}
			}
		})
	}
}

func TestContentReaderIsDeterministicAndExact(t *testing.T) {
	read := func(name string, size int64) []byte {
		b, err := io.ReadAll(contentReader(name, size))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, again, other := read("bench/a.jar", 100_000), read("bench/a.jar", 100_000), read("bench/b.jar", 100_000)
	if len(a) != 100_000 {
		t.Fatalf("read %d bytes, want 100000", len(a))
	}
	if !bytes.Equal(a, again) {
		t.Error("the same name gave different content")
	}
	if bytes.Equal(a, other) {
		t.Error("two names gave the same content")
	}
	if len(read("x", 0)) != 0 {
		t.Error("size 0 gave content")
	}
}

type recordingPutter struct{ sizes map[string]int64 }

func (p *recordingPutter) Put(_ context.Context, bucket, key string, r io.Reader, size int64) error {
	n, err := io.Copy(io.Discard, r)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%s: read %d bytes, announced %d", key, n, size)
	}
	p.sizes[bucket+"/"+key] = size
	return nil
}

func TestPutArtifacts(t *testing.T) {
	p := &recordingPutter{sizes: map[string]int64{}}
	set, err := putArtifacts(context.Background(), p, "bench/wall", 300, 2, 100)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{
		"artifacts/bench/wall/app.jar": 300, "artifacts/bench/wall/libs/dep-01.jar": 100, "artifacts/bench/wall/libs/dep-02.jar": 100,
	}
	if fmt.Sprint(p.sizes) != fmt.Sprint(want) {
		t.Errorf("stored %v, want %v", p.sizes, want)
	}
	if set.total() != 500 || set.Jar.Key != "bench/wall/app.jar" || len(set.Deps) != 2 || set.Deps[1].Key != "bench/wall/libs/dep-02.jar" {
		t.Errorf("set %+v", set)
	}
}

// fakeAPI answers /v1/provision as the Tech Adapter API does.
func fakeAPI(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) apiClient {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(answer))
	t.Cleanup(srv.Close)
	return apiClient{base: srv.URL, http: srv.Client()}
}

func TestProvisionSynchronousAnswers(t *testing.T) {
	ctx := context.Background()
	var got descriptor.Request
	ok := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/provision" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		_ = json.NewDecoder(r.Body).Decode(&got)
		fmt.Fprint(w, `{"status":"COMPLETED","result":"done"}`)
	})
	d, polled, err := ok.provision(ctx, "dataProduct: {}")
	if err != nil || polled || d <= 0 {
		t.Fatalf("provision = %v, %v, %v", d, polled, err)
	}
	if got.DescriptorKind != descriptor.ComponentDescriptor || got.Descriptor != "dataProduct: {}" || got.RemoveData {
		t.Errorf("request %+v", got)
	}

	failed := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"status":"FAILED","result":"","userMessage":"upload failed"}`)
	})
	if _, _, err := failed.provision(ctx, "x"); err == nil || !strings.Contains(err.Error(), "provision ended FAILED") || !strings.Contains(err.Error(), "upload failed") {
		t.Errorf("FAILED answer: %v", err)
	}

	invalid := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, `{"userMessage":"Job name not valid"}`)
	})
	if _, _, err := invalid.provision(ctx, "x"); err == nil || !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "Job name not valid") {
		t.Errorf("400 answer: %v", err)
	}
}

func TestProvisionPollsA202UntilItEnds(t *testing.T) {
	var polls atomic.Int32
	api := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprint(w, "tok-1")
		case r.URL.Path == "/v1/provision/tok-1/status":
			if polls.Add(1) < 3 {
				fmt.Fprint(w, `{"status":"RUNNING","result":""}`)
				return
			}
			fmt.Fprint(w, `{"status":"COMPLETED","result":"done"}`)
		default:
			t.Errorf("unexpected %s %s", r.Method, r.URL.Path)
			w.WriteHeader(http.StatusNotFound)
		}
	})
	d, polled, err := api.provision(context.Background(), "x")
	if err != nil || !polled || d <= 0 || polls.Load() != 3 {
		t.Fatalf("provision = %v, polled %v, %v after %d polls", d, polled, err, polls.Load())
	}
}
