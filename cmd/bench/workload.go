package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"text/template"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// Names shared by every job of the benchmark: the data product and where its artifacts live.
const (
	benchDomain      = "bench"
	benchDataProduct = "perf"
	benchEnvironment = "development"
	artifactBucket   = "artifacts"
	benchClassName   = "com.example.bench.Main"
)

// jobSpec is one Spark jar job of the benchmark: a component whose jar and dependencies are
// objects in the local S3.
type jobSpec struct {
	// Component is the last segment of the component id; each measured run uses a new one so
	// that its job and resource are new and no upload is skipped as unchanged.
	Component string
	Jar       descriptor.S3Location
	Deps      []descriptor.S3Location
}

// ComponentID is urn:dmb:cmp:<domain>:<data product>:<major>:<component>.
func (j jobSpec) ComponentID() string {
	return fmt.Sprintf("%s%s:%s:0:%s", descriptor.ComponentIDPrefix, benchDomain, benchDataProduct, j.Component)
}

// JobName is the name the provisioner requires (and so the name the sequential client uses too).
func (j jobSpec) JobName() string {
	return descriptor.ExpectedJobName(j.ComponentID(), benchEnvironment)
}

// descriptorTemplate is a COMPONENT_DESCRIPTOR with the one workload component the provisioner
// decodes, shaped like examples/spark-jar.yaml. (Parsed per call, a few microseconds, rather
// than kept in a package variable.)
const descriptorTemplate = `dataProduct:
  id: urn:dmb:dp:{{.Domain}}:{{.DataProduct}}:0
  name: {{.DataProduct}}
  domain: {{.Domain}}
  environment: {{.Environment}}
  version: 0.1.0
  kind: dataproduct
  dataProductOwner: user:bench_example.com
  devGroup: group:bench
  components:
    - kind: workload
      id: {{.ComponentID}}
      name: Benchmark job {{.Job.Component}}
      version: 0.0.0
      infrastructureTemplateId: urn:dmb:itm:cdp-aws-workload-spark-provisioner:0
      useCaseTemplateId: urn:dmb:utm:spark-workload-template:0.0.0
      platform: CDP on AWS
      technology: spark
      workloadType: batch
      specific:
        cdeService: {{.Service}}
        cdeCluster: {{.Cluster}}
        jobName: {{.JobName}}
        jar: {{.Job.Jar}}
        className: {{.ClassName}}
        jobConfig:
          dependencies:{{range .Job.Deps}}
            - {{.}}{{else}} []{{end}}
          driverCores: 1
          driverMemory: 1g
          executorCores: 1
          executorMemory: 1g
          numExecutors: 1
componentIdToProvision: {{.ComponentID}}
`

// descriptorYAML renders the job's descriptor for the demo service and virtual cluster.
func (j jobSpec) descriptorYAML(service, cluster string) (string, error) {
	tmpl, err := template.New("descriptor").Parse(descriptorTemplate)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	err = tmpl.Execute(&b, map[string]any{
		"Domain": benchDomain, "DataProduct": benchDataProduct, "Environment": benchEnvironment,
		"ComponentID": j.ComponentID(), "JobName": j.JobName(), "Job": j,
		"Service": service, "Cluster": cluster, "ClassName": benchClassName,
	})
	return b.String(), err
}

// artifactSet is the S3 objects of a job: a jar and its dependencies.
type artifactSet struct {
	Jar  descriptor.S3Location
	Deps []descriptor.S3Location
	// Sizes of every object by key.
	Sizes map[string]int64
}

// total is the number of bytes of the set's objects.
func (a artifactSet) total() int64 {
	var n int64
	for _, s := range a.Sizes {
		n += s
	}
	return n
}

func (a artifactSet) job(component string) jobSpec {
	return jobSpec{Component: component, Jar: a.Jar, Deps: a.Deps}
}

// objectPutter stores objects; s3local.Server implements it.
type objectPutter interface {
	Put(ctx context.Context, bucket, key string, r io.Reader, size int64) error
}

// putArtifacts stores a jar of jarSize bytes and nDeps dependencies of depSize bytes under
// prefix, each with its own deterministic pseudo-random content.
func putArtifacts(ctx context.Context, s3 objectPutter, prefix string, jarSize int64, nDeps int, depSize int64) (artifactSet, error) {
	set := artifactSet{Sizes: map[string]int64{}}
	put := func(key string, size int64) (descriptor.S3Location, error) {
		if err := s3.Put(ctx, artifactBucket, key, contentReader(key, size), size); err != nil {
			return descriptor.S3Location{}, err
		}
		set.Sizes[key] = size
		return descriptor.S3Location{Bucket: artifactBucket, Key: key}, nil
	}
	var err error
	if set.Jar, err = put(prefix+"/app.jar", jarSize); err != nil {
		return set, err
	}
	for i := range nDeps {
		dep, err := put(fmt.Sprintf("%s/libs/dep-%02d.jar", prefix, i+1), depSize)
		if err != nil {
			return set, err
		}
		set.Deps = append(set.Deps, dep)
	}
	return set, nil
}

// contentReader streams size deterministic pseudo-random bytes seeded by name: incompressible
// like a jar, the same on every run, and never held in memory (the 1 GiB jar is generated as it
// is stored).
func contentReader(name string, size int64) io.Reader {
	h := fnv.New64a()
	h.Write([]byte(name))
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], h.Sum64())
	return io.LimitReader(rand.NewChaCha8(seed), size)
}

// provisionTimeout bounds one provision of the benchmark, answer included.
const provisionTimeout = 5 * time.Minute

// apiClient calls the provisioner's Tech Adapter API.
type apiClient struct {
	base string
	http *http.Client
}

// provisionAnswer is the part of ProvisioningStatus the harness reads.
type provisionAnswer struct {
	Status      string `json:"status"`
	Result      string `json:"result"`
	UserMessage string `json:"userMessage"`
}

// provision POSTs the descriptor to /v1/provision and returns the wall time from sending the
// request to receiving the COMPLETED answer. With the harness's large SYNC_TIMEOUT the answer is
// the 200 itself; should the API answer 202 anyway, the status is polled (every 50 ms) and the
// time runs until the poll that sees COMPLETED, which is reported as polled.
func (a apiClient) provision(ctx context.Context, descriptorYAML string) (elapsed time.Duration, polled bool, err error) {
	// One stuck run must not use up the whole -timeout; the 1 GiB provision takes seconds.
	ctx, cancel := context.WithTimeoutCause(ctx, provisionTimeout, fmt.Errorf("no answer to the provision within %s", provisionTimeout))
	defer cancel()
	body, err := json.Marshal(descriptor.Request{DescriptorKind: descriptor.ComponentDescriptor, Descriptor: descriptorYAML})
	if err != nil {
		return 0, false, err
	}
	start := time.Now()
	status, respBody, err := a.do(ctx, http.MethodPost, "/v1/provision", body)
	if err != nil {
		return 0, false, err
	}
	switch status {
	case http.StatusOK:
		return time.Since(start), false, completed(respBody)
	case http.StatusAccepted:
	default:
		return 0, false, fmt.Errorf("POST /v1/provision: HTTP %d: %s", status, truncate(respBody, 2000))
	}
	token := strings.TrimSpace(string(respBody))
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, true, fmt.Errorf("waiting for provision %s: %w", token, context.Cause(ctx))
		case <-t.C:
		}
		status, respBody, err := a.do(ctx, http.MethodGet, "/v1/provision/"+token+"/status", nil)
		if err != nil {
			return 0, true, err
		}
		if status != http.StatusOK {
			return 0, true, fmt.Errorf("GET status of %s: HTTP %d: %s", token, status, truncate(respBody, 2000))
		}
		var ans provisionAnswer
		if err := json.Unmarshal(respBody, &ans); err != nil {
			return 0, true, fmt.Errorf("status of %s: %w", token, err)
		}
		if ans.Status != "RUNNING" {
			return time.Since(start), true, completed(respBody)
		}
	}
}

// completed checks that a ProvisioningStatus body says COMPLETED.
func completed(body []byte) error {
	var ans provisionAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		return fmt.Errorf("undecodable ProvisioningStatus %s: %w", truncate(body, 500), err)
	}
	if ans.Status != "COMPLETED" {
		return fmt.Errorf("provision ended %s: %s", ans.Status, truncate(body, 2000))
	}
	return nil
}

func (a apiClient) do(ctx context.Context, method, path string, body []byte) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base+path, rd)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	return resp.StatusCode, b, nil
}

func truncate(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	return string(b[:n]) + "…"
}
