package activities

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/witboost-community/cde-spark-provisioner/cde"
)

// EnsureResource creates the resource when it does not exist. An existing resource of the same
// type is kept (with its files, which later uploads compare against); one of another type is a
// permanent error, since deleting it could destroy someone else's data.
func (a *Activities) EnsureResource(ctx context.Context, in ResourceInput) (bool, error) {
	jobs, err := a.jobs(in.Target)
	if err != nil {
		return false, err
	}
	what := fmt.Sprintf("resource %s in virtual cluster %s", in.Name, in.Target.ClusterName)
	existing, err := jobs.GetResource(ctx, in.Name)
	switch {
	case err == nil:
		if existing.Type != "" && existing.Type != in.Type {
			return false, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("%s exists with type %s, expected %s: delete it or rename the job", what, existing.Type, in.Type), ErrTypeCDE, nil)
		}
		return false, nil
	case !errors.Is(err, cde.ErrNotFound):
		return false, classify("get "+what, err)
	}
	req := cde.CreateResourceRequest{Name: in.Name, Type: in.Type, RetentionPolicy: cde.RetentionKeepIndefinitely}
	if in.Type == cde.ResourceTypePythonEnv {
		req.PythonEnv = &cde.PythonEnv{PythonVersion: in.PythonVersion}
	}
	switch err := jobs.CreateResource(ctx, req); {
	case err == nil:
		return true, nil
	case errors.Is(err, cde.ErrConflict):
		// Created by an earlier attempt whose answer was lost, or concurrently: the same thing.
		return false, nil
	default:
		return false, classify("create "+what, err)
	}
}

// UpsertJob creates the job, or updates it when it exists (GET, then POST or PATCH; a 409 on
// POST means an earlier attempt created it, so it is updated), then reads it back.
func (a *Activities) UpsertJob(ctx context.Context, in JobInput) (JobInfo, error) {
	jobs, err := a.jobs(in.Target)
	if err != nil {
		return JobInfo{}, err
	}
	job := BuildJob(in.Specific, in.IDBrokerHosts)
	what := fmt.Sprintf("job %s in virtual cluster %s", job.Name, in.Target.ClusterName)

	created := false
	_, err = jobs.GetJob(ctx, job.Name)
	switch {
	case err == nil:
		err = jobs.UpdateJob(ctx, job)
	case errors.Is(err, cde.ErrNotFound):
		err = jobs.CreateJob(ctx, job)
		created = err == nil
		if errors.Is(err, cde.ErrConflict) {
			err = jobs.UpdateJob(ctx, job)
		}
	}
	if err != nil {
		return JobInfo{}, classify("create or update "+what, err)
	}

	got, err := jobs.GetJob(ctx, job.Name)
	if errors.Is(err, cde.ErrNotFound) {
		// Written but not readable: retry; CDE may be catching up.
		return JobInfo{}, temporal.NewApplicationError(what+" was written but cannot be read back yet", ErrTypeTransient)
	}
	if err != nil {
		return JobInfo{}, classify("read back "+what, err)
	}
	info := JobInfo{Name: got.Name, Created: created, Type: got.Type, Modified: got.Modified}
	if got.Spark != nil {
		info.File = got.Spark.File
	}
	for _, m := range got.Mounts {
		info.Resources = append(info.Resources, m.ResourceName)
	}
	if got.Schedule != nil && got.Schedule.Enabled {
		info.Schedule = got.Schedule.CronExpression
	}
	return info, nil
}

// DeleteJob deletes the job; a job already gone is success.
func (a *Activities) DeleteJob(ctx context.Context, in DeleteInput) (DeleteResult, error) {
	jobs, err := a.jobs(in.Target)
	if err != nil {
		return DeleteResult{}, err
	}
	switch err := jobs.DeleteJob(ctx, in.Name); {
	case err == nil:
		return DeleteResult{Deleted: true}, nil
	case errors.Is(err, cde.ErrNotFound):
		return DeleteResult{}, nil
	default:
		return DeleteResult{}, classify(fmt.Sprintf("delete job %s in virtual cluster %s", in.Name, in.Target.ClusterName), err)
	}
}

// DeleteResource deletes a resource with its files; a resource already gone is success.
func (a *Activities) DeleteResource(ctx context.Context, in DeleteInput) (DeleteResult, error) {
	jobs, err := a.jobs(in.Target)
	if err != nil {
		return DeleteResult{}, err
	}
	switch err := jobs.DeleteResource(ctx, in.Name); {
	case err == nil:
		return DeleteResult{Deleted: true}, nil
	case errors.Is(err, cde.ErrNotFound):
		return DeleteResult{}, nil
	default:
		return DeleteResult{}, classify(fmt.Sprintf("delete resource %s in virtual cluster %s", in.Name, in.Target.ClusterName), err)
	}
}

// ConfirmJobGone checks that the job no longer exists after a delete. A job still listed is a
// transient condition (CDE deletes asynchronously), retried until the activity's budget runs out.
func (a *Activities) ConfirmJobGone(ctx context.Context, in DeleteInput) error {
	jobs, err := a.jobs(in.Target)
	if err != nil {
		return err
	}
	_, err = jobs.GetJob(ctx, in.Name)
	switch {
	case errors.Is(err, cde.ErrNotFound):
		return nil
	case err == nil:
		return temporal.NewApplicationError(fmt.Sprintf("job %s was deleted but CDE still returns it", in.Name), ErrTypeTransient)
	default:
		return classify("confirm job "+in.Name+" is gone", err)
	}
}
