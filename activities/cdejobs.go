package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// createResource creates the resource unless one of that name exists (created false then). It
// creates first and reads only on a 409 (CDE's answer for an existing name, which witboost relies
// on too): a new job's resources cost one call. It changes nothing that exists, so it may run
// before anything is known of the resource's owner.
func createResource(ctx context.Context, jobs *cde.JobsClient, in ResourceInput) (created bool, err error) {
	err = jobs.CreateResource(ctx, createRequest(in))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, cde.ErrConflict):
		return false, nil
	}
	return false, classify(fmt.Sprintf("create resource %s in virtual cluster %s", in.Name, in.Target.ClusterName), err)
}

func createRequest(in ResourceInput) cde.CreateResourceRequest {
	req := cde.CreateResourceRequest{Name: in.Name, Type: in.Type, RetentionPolicy: cde.RetentionKeepIndefinitely}
	if in.Type == cde.ResourceTypePythonEnv {
		req.PythonEnv = &cde.PythonEnv{PythonVersion: in.PythonVersion, PyPiMirror: in.PyMirror}
	}
	return req
}

// existingResource returns the files of a resource that exists (its creation answered 409), after
// the type and Python version checks. A resource of the same type is kept with its files, which
// SyncFiles compares against. A python-env built for another Python version is deleted and
// created again, since CDE builds an environment for one version (SyncFiles then uploads its
// requirements anew, which starts a build). A resource of another type is a permanent error:
// deleting it could destroy someone else's files.
func (a *Activities) existingResource(ctx context.Context, jobs *cde.JobsClient, in ResourceInput) (EnsureResult, map[string]cde.ResourceFile, error) {
	what := fmt.Sprintf("resource %s in virtual cluster %s", in.Name, in.Target.ClusterName)
	create := func() error { return jobs.CreateResource(ctx, createRequest(in)) }
	existing, err := jobs.GetResource(ctx, in.Name)
	if err != nil {
		return EnsureResult{}, nil, classify("get "+what, err)
	}
	if existing.Type != "" && existing.Type != in.Type {
		return EnsureResult{}, nil, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s exists with type %s, expected %s: delete it or rename the job", what, existing.Type, in.Type), ErrTypeCDE, nil)
	}
	if in.Type == cde.ResourceTypePythonEnv && existing.PythonEnv != nil && existing.PythonEnv.PythonVersion != "" &&
		existing.PythonEnv.PythonVersion != in.PythonVersion {
		if err := jobs.DeleteResource(ctx, in.Name); err != nil && !errors.Is(err, cde.ErrNotFound) {
			return EnsureResult{}, nil, classify(fmt.Sprintf("delete %s (built for %s, now %s)", what, existing.PythonEnv.PythonVersion, in.PythonVersion), err)
		}
		if err := create(); err != nil && !errors.Is(err, cde.ErrConflict) {
			return EnsureResult{}, nil, classify("create "+what, err)
		}
		return EnsureResult{Created: true, Recreated: true}, map[string]cde.ResourceFile{}, nil
	}
	files := make(map[string]cde.ResourceFile, len(existing.Files))
	for _, f := range existing.Files {
		files[f.Path] = f
	}
	return EnsureResult{}, files, nil
}

// ResourceStatus reads a resource's status, and for a python-env CDE's reason (a failed build
// says why).
func (a *Activities) ResourceStatus(ctx context.Context, in ResourceInput) (ResourceState, error) {
	jobs, err := a.jobs(in.Target)
	if err != nil {
		return ResourceState{}, err
	}
	res, err := jobs.GetResource(ctx, in.Name)
	if err != nil {
		return ResourceState{}, classify(fmt.Sprintf("get resource %s in virtual cluster %s", in.Name, in.Target.ClusterName), err)
	}
	st := ResourceState{Status: res.Status}
	if res.PythonEnvInfo != nil {
		st.Reason = res.PythonEnvInfo.StatusReason
	}
	return st, nil
}

// UpsertJob creates the job, or updates it when it exists (GET, then POST or PATCH; a 409 on
// POST means an earlier attempt created it, so it is updated), then reads it back. JobInfo.Changes
// lists the fields the update changed, secrets masked (JobChanges).
//
// Two records go beside: with in.Manifest set, the upload manifest (RecordManifest), and always
// the job's desired state (DesiredStatePath), written beside the read-back. Their failure does
// not undo the deployed job: a transient one is retried with the upsert (which converges on the
// same job) for the first manifestAttempts attempts, and after that, like a permanent one, it
// becomes JobInfo.ManifestWarning or JobInfo.DesiredStateWarning.
func (a *Activities) UpsertJob(ctx context.Context, in JobInput) (JobInfo, error) {
	manifestErr := make(chan error, 1)
	if in.Manifest == nil {
		manifestErr <- nil
	} else {
		go func() { manifestErr <- a.RecordManifest(ctx, *in.Manifest) }()
	}
	info, desiredErr, err := a.upsertJob(ctx, in)
	merr := <-manifestErr
	if err != nil {
		return info, err
	}
	for _, rec := range []struct {
		err     error
		warning *string
	}{{merr, &info.ManifestWarning}, {desiredErr, &info.DesiredStateWarning}} {
		if rec.err == nil {
			continue
		}
		if isTransient(rec.err) && activity.IsActivity(ctx) && activity.GetInfo(ctx).Attempt < manifestAttempts {
			return JobInfo{}, rec.err
		}
		*rec.warning = causeText(rec.err)
	}
	return info, nil
}

// manifestAttempts is how many attempts of UpsertJob retry a transient failure to record the
// manifest or the desired state before giving it up.
const manifestAttempts = 3

// upsertJob writes the job and reads it back; desiredErr is the failure to record its desired
// state, which the caller weighs (err is nil then: the job is deployed).
func (a *Activities) upsertJob(ctx context.Context, in JobInput) (info JobInfo, desiredErr error, err error) {
	jobs, err := a.jobs(in.Target)
	if err != nil {
		return JobInfo{}, nil, err
	}
	job := BuildJob(in.Specific, in.IDBrokerHosts)
	if in.ComponentID != "" {
		job.Spark.Conf[descriptor.ConfOwnerKey] = in.ComponentID
	}
	if in.PythonEnvResource != "" && job.Spark.PythonEnvResourceName != "" {
		job.Spark.PythonEnvResourceName = in.PythonEnvResource
	}
	what := fmt.Sprintf("job %s in virtual cluster %s", job.Name, in.Target.ClusterName)

	created := false
	if in.JobAbsent {
		// The job was absent a moment ago: create first, saving the read. A 409 says it exists
		// now (an earlier attempt, or another writer): the usual path reads it, owner check first.
		err := jobs.CreateJob(ctx, job)
		if err != nil && !errors.Is(err, cde.ErrConflict) {
			return JobInfo{}, nil, classify("create "+what, err)
		}
		created = err == nil
	}
	var current *cde.Job
	var previousDesired []byte
	if !created {
		// The desired state recorded last is read beside the job: an unchanged one is not
		// written again. Unreadable, it is simply written.
		done := make(chan struct{})
		go func() {
			defer close(done)
			previousDesired, _ = readDesiredRaw(ctx, jobs, job.Name)
		}()
		current, err = jobs.GetJob(ctx, job.Name)
		<-done
	}
	switch {
	case created:
	case err == nil:
		// The checks refused a collision already; this closes the window since then. A job with no
		// owner recorded (deployed by the reference provisioner, or by hand) is adopted.
		if owner := JobOwner(current); in.ComponentID != "" && owner != "" && owner != in.ComponentID {
			return JobInfo{}, nil, ownedByAnother(in.JobField, job.Name, owner, in.ComponentID)
		}
		err = jobs.UpdateJob(ctx, job)
	case errors.Is(err, cde.ErrNotFound):
		err = jobs.CreateJob(ctx, job)
		created = err == nil
		if errors.Is(err, cde.ErrConflict) {
			err = jobs.UpdateJob(ctx, job)
		}
	}
	if err != nil {
		return JobInfo{}, nil, classify("create or update "+what, err)
	}

	// The desired state is written beside the read-back, off the critical path.
	desired := make(chan error, 1)
	go func() {
		desired <- writeDesiredState(ctx, jobs, in.Target, in.ComponentID, job, pyMirror(in.Specific), previousDesired)
	}()
	got, err := jobs.GetJob(ctx, job.Name)
	desiredErr = <-desired
	if errors.Is(err, cde.ErrNotFound) {
		// Written but not readable: retry; CDE may be catching up.
		return JobInfo{}, nil, temporal.NewApplicationError(what+" was written but cannot be read back yet", ErrTypeTransient)
	}
	if err != nil {
		return JobInfo{}, nil, classify("read back "+what, err)
	}
	info = JobInfo{Name: got.Name, Created: created, Type: got.Type, Modified: got.Modified}
	if !created {
		info.Changes, info.Compared = JobChanges(current, got), current != nil
	}
	if got.Spark != nil {
		info.File = got.Spark.File
	}
	for _, m := range got.Mounts {
		info.Resources = append(info.Resources, m.ResourceName)
	}
	if got.Schedule != nil && got.Schedule.Enabled {
		info.Schedule = got.Schedule.CronExpression
	}
	return info, desiredErr, nil
}

// DeleteJob deletes the job; a job already gone is success. A job another component owns is
// refused for good (the unprovision's checks skip it before; this closes the window since).
func (a *Activities) DeleteJob(ctx context.Context, in DeleteInput) (DeleteResult, error) {
	jobs, err := a.jobs(in.Target)
	if err != nil {
		return DeleteResult{}, err
	}
	if in.ComponentID != "" {
		current, err := jobs.GetJob(ctx, in.Name)
		switch {
		case errors.Is(err, cde.ErrNotFound):
			return DeleteResult{}, nil
		case err != nil:
			return DeleteResult{}, classify(fmt.Sprintf("get job %s in virtual cluster %s", in.Name, in.Target.ClusterName), err)
		}
		if owner := JobOwner(current); owner != "" && owner != in.ComponentID {
			return DeleteResult{}, ownedByAnother("", in.Name, owner, in.ComponentID)
		}
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

// JobOwner is the component a job records as its owner (descriptor.ConfOwnerKey), "" for none.
func JobOwner(job *cde.Job) string {
	if job == nil || job.Spark == nil {
		return ""
	}
	return job.Spark.Conf[descriptor.ConfOwnerKey]
}

// ownedByAnother refuses for good to touch another component's job, with the problem as details.
func ownedByAnother(field, jobName, owner, componentID string) error {
	p := descriptor.JobOwnedByAnother(field, jobName, owner, componentID)
	return temporal.NewNonRetryableApplicationError(p.Message, ErrTypeOwnership, nil, p)
}

// pyMirror is the PyPI mirror of a job with a Python environment ("" for PyPI, or none).
func pyMirror(s descriptor.Specific) string {
	if s.PyMirror == nil || !s.Kind.UsesPythonEnv() {
		return ""
	}
	return strings.TrimSpace(*s.PyMirror)
}
