package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// sequentialClient deploys a job the way the reference Scala provisioner does
// (reference/witboost-api.md §5.4 item 36 and §5.5 items 38 and 51): describe the service,
// describe the virtual cluster, look up the idbroker hosts, make sure the resource exists, then
// for each artifact read the whole S3 object into memory and upload it, then create (or PATCH)
// the job and read it back, one call after the other. It uses the same cde client and the AWS
// SDK directly, so that its CDE calls are the provisioner's calls, only not overlapped: the
// ratio of the two wall times measures what the provisioner's concurrency (and its Temporal
// overhead) is worth.
type sequentialClient struct {
	cdp   *cde.CDPClient
	knox  *cde.KnoxTokenSource
	http  *http.Client
	s3    *s3.Client
	steps []string // names of the calls of the last deploy, in order (for the report)
}

type sequentialConfig struct {
	CDPEndpoint, AccessKeyID, PrivateKey, User, Password string
	S3Endpoint, S3Region, S3AccessKey, S3SecretKey       string
	// HTTP is the client of CDP, Knox and the jobs API (it trusts the simulator's CA).
	HTTP *http.Client
}

func newSequentialClient(cfg sequentialConfig) (*sequentialClient, error) {
	cdp, err := cde.NewCDPClient(cde.CDPConfig{
		Endpoint: cfg.CDPEndpoint, AccessKeyID: cfg.AccessKeyID, PrivateKey: cfg.PrivateKey,
		HTTPClient: cfg.HTTP, UserAgent: "cde-bench-sequential",
	})
	if err != nil {
		return nil, fmt.Errorf("sequential client: CDP: %w", err)
	}
	// One token source for every deploy, as the worker keeps one: both fetch a Knox token once
	// (during the warm-up) and reuse it, so neither side pays a token per run.
	knox, err := cde.NewKnoxTokenSource(cde.KnoxConfig{User: cfg.User, Password: cfg.Password, HTTPClient: cfg.HTTP})
	if err != nil {
		return nil, fmt.Errorf("sequential client: Knox: %w", err)
	}
	s3c := s3.New(s3.Options{
		Region:       cfg.S3Region,
		BaseEndpoint: aws.String(cfg.S3Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(cfg.S3AccessKey, cfg.S3SecretKey, ""),
	})
	return &sequentialClient{cdp: cdp, knox: knox, http: cfg.HTTP, s3: s3c}, nil
}

// deploy provisions job in service/cluster and returns its wall time, from the first CDP call
// to the answer of the final GET of the job.
func (q *sequentialClient) deploy(ctx context.Context, job jobSpec, service, cluster string) (time.Duration, error) {
	q.steps = q.steps[:0]
	step := func(name string) { q.steps = append(q.steps, name) }
	start := time.Now()

	step("describe service (listServices + describeService)")
	svc, err := q.cdp.FindService(ctx, service)
	if err != nil {
		return 0, fmt.Errorf("find service %s: %w", service, err)
	}
	desc, err := q.cdp.DescribeService(ctx, svc.ClusterID)
	if err != nil {
		return 0, fmt.Errorf("describe service %s: %w", service, err)
	}
	step("describe virtual cluster (listVcs + describeVc)")
	vcSum, err := q.cdp.FindVc(ctx, svc.ClusterID, cluster)
	if err != nil {
		return 0, fmt.Errorf("find virtual cluster %s: %w", cluster, err)
	}
	vc, err := q.cdp.DescribeVc(ctx, svc.ClusterID, vcSum.VcID)
	if err != nil {
		return 0, fmt.Errorf("describe virtual cluster %s: %w", cluster, err)
	}
	step("idbroker hosts (listDatalakes + describeDatalake)")
	hosts, err := q.cdp.IDBrokerHosts(ctx, desc.EnvironmentCrn)
	if err != nil {
		return 0, fmt.Errorf("idbroker hosts: %w", err)
	}
	jobs, err := cde.NewJobsClient(vc.VcAPIURL, q.knox.ForHost(desc.ClusterFqdn), q.http)
	if err != nil {
		return 0, err
	}

	res := descriptor.MainResourceName(job.JobName())
	step("ensure resource (GET, then POST when absent)")
	if _, err := jobs.GetResource(ctx, res); errors.Is(err, cde.ErrNotFound) {
		err = jobs.CreateResource(ctx, cde.CreateResourceRequest{Name: res, Type: cde.ResourceTypeFiles, RetentionPolicy: cde.RetentionKeepIndefinitely})
		if err != nil && !errors.Is(err, cde.ErrConflict) {
			return 0, fmt.Errorf("create resource %s: %w", res, err)
		}
	} else if err != nil {
		return 0, fmt.Errorf("get resource %s: %w", res, err)
	}

	artifacts := append([]descriptor.S3Location{job.Jar}, job.Deps...)
	step(fmt.Sprintf("for each of the %d artifacts: read the whole object from S3 into memory, then upload it", len(artifacts)))
	for _, loc := range artifacts {
		data, err := q.readAll(ctx, loc)
		if err != nil {
			return 0, err
		}
		if err := jobs.UploadFile(ctx, res, loc.Basename(), bytes.NewReader(data), int64(len(data))); err != nil {
			return 0, fmt.Errorf("upload %s: %w", loc.Basename(), err)
		}
	}

	step("upsert job (GET, then POST or PATCH)")
	def := sequentialJob(job, res, hosts)
	switch _, err := jobs.GetJob(ctx, def.Name); {
	case err == nil:
		err = jobs.UpdateJob(ctx, def)
		if err != nil {
			return 0, fmt.Errorf("update job %s: %w", def.Name, err)
		}
	case errors.Is(err, cde.ErrNotFound):
		if err := jobs.CreateJob(ctx, def); err != nil {
			return 0, fmt.Errorf("create job %s: %w", def.Name, err)
		}
	default:
		return 0, fmt.Errorf("get job %s: %w", def.Name, err)
	}
	step("get job")
	if _, err := jobs.GetJob(ctx, def.Name); err != nil {
		return 0, fmt.Errorf("read back job %s: %w", def.Name, err)
	}
	return time.Since(start), nil
}

// readAll reads a whole object into memory, as the reference's S3 gateway does.
func (q *sequentialClient) readAll(ctx context.Context, loc descriptor.S3Location) ([]byte, error) {
	out, err := q.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Key)})
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", loc, err)
	}
	defer out.Body.Close()
	data, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", loc, err)
	}
	return data, nil
}

// sequentialJob is the job the reference mapper builds (reference/witboost-api.md §5.4 items 30
// and 32): the jar as the file, dependencies as jars by basename, the resource mounted, the
// idbroker hosts in conf.
func sequentialJob(job jobSpec, resource string, hosts []string) cde.Job {
	jars := make([]string, len(job.Deps))
	for i, d := range job.Deps {
		jars[i] = d.Basename()
	}
	return cde.Job{
		Name: job.JobName(), Type: cde.JobTypeSpark, RetentionPolicy: cde.RetentionKeepIndefinitely,
		Mounts: []cde.Mount{{ResourceName: resource}},
		Spark: &cde.SparkJob{
			File: job.Jar.Basename(), ClassName: benchClassName, Jars: jars,
			DriverCores: 1, DriverMemory: "1g", ExecutorCores: 1, ExecutorMemory: "1g", NumExecutors: 1,
			Conf: map[string]string{"dex.safariEnabled": "true", "spark.cde.idBrokerHosts": strings.Join(hosts, ",")},
		},
		Schedule: &cde.Schedule{Enabled: false},
	}
}
