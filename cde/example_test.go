package cde_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/witboost-community/cde-spark-provisioner/cde"
)

// The deploy sequence of reference section 2.8, with the error branches an
// activity takes. Not run: it needs a CDP tenant (or the simulator).
func Example() {
	ctx := context.Background()
	cdp, err := cde.NewCDPClient(cde.CDPConfig{
		Endpoint:    os.Getenv("CDP_ENDPOINT_URL"),
		AccessKeyID: os.Getenv("CDP_ACCESS_KEY_ID"),
		PrivateKey:  os.Getenv("CDP_PRIVATE_KEY"),
	})
	if err != nil {
		fmt.Println(err) // never contains the key
		return
	}
	knox, err := cde.NewKnoxTokenSource(cde.KnoxConfig{
		User:     os.Getenv("CDP_DEPLOY_ROLE_USER"),
		Password: os.Getenv("CDP_DEPLOY_ROLE_PASSWORD"),
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	svc, err := cdp.FindService(ctx, "cde-prod")
	switch {
	case errors.Is(err, cde.ErrNotFound):
		fmt.Println("no such service") // a validation error for the user
		return
	case cde.IsTransient(err):
		fmt.Println("retry later:", err) // a retryable activity error
		return
	case err != nil:
		fmt.Println("permanent:", err)
		return
	case svc.Status == cde.ServiceStatusDeleted:
		fmt.Println("service was recently deleted")
		return
	case svc.Status != cde.ServiceStatusRunning:
		fmt.Println("service exists but is not running")
		return
	}
	desc, err := cdp.DescribeService(ctx, svc.ClusterID)
	if err != nil {
		return
	}
	vcSum, err := cdp.FindVc(ctx, svc.ClusterID, "vc-etl")
	if err != nil || vcSum.Status != cde.VcStatusRunning {
		return
	}
	vc, err := cdp.DescribeVc(ctx, svc.ClusterID, vcSum.VcID)
	if err != nil {
		return
	}
	ips, err := cdp.IDBrokerHosts(ctx, desc.EnvironmentCrn)
	if err != nil {
		return // errors.Is(err, cde.ErrNoIDBroker): the datalake has no idbroker group
	}

	jobs, err := cde.NewJobsClient(vc.VcAPIURL, knox.ForHost(desc.ClusterFqdn), nil)
	if err != nil {
		return
	}
	const res = "mainres-5d41402abc4b2a76b9719d911017c592"
	if _, err := jobs.GetResource(ctx, res); errors.Is(err, cde.ErrNotFound) {
		err = jobs.CreateResource(ctx, cde.CreateResourceRequest{Name: res, Type: cde.ResourceTypeFiles, RetentionPolicy: cde.RetentionKeepIndefinitely})
		if err != nil && !errors.Is(err, cde.ErrConflict) { // 409: created meanwhile
			return
		}
	}
	artifact := strings.NewReader("jar bytes, e.g. an S3 object body")
	if err := jobs.UploadFile(ctx, res, "app.jar", artifact, artifact.Size()); err != nil {
		return
	}
	job := cde.Job{
		Name: "cmp-name-dev", Type: cde.JobTypeSpark, RetentionPolicy: cde.RetentionKeepIndefinitely,
		Mounts: []cde.Mount{{ResourceName: res}},
		Spark: &cde.SparkJob{File: "app.jar", ClassName: "com.example.Main",
			Conf: map[string]string{"dex.safariEnabled": "true", "spark.cde.idBrokerHosts": strings.Join(ips, ",")}},
	}
	_, err = jobs.GetJob(ctx, job.Name)
	switch {
	case errors.Is(err, cde.ErrNotFound):
		err = jobs.CreateJob(ctx, job)
	case err == nil:
		err = jobs.UpdateJob(ctx, job)
	}
	if err != nil {
		fmt.Println(err)
	}
}
