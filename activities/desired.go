package activities

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// DesiredStatePath is the file, in the job's manifest resource (descriptor.ManifestResourceName),
// that records the job as the last successful provision sent it to CDE: what drift detection
// compares the deployed job with. It lives in CDE beside the job, so it outlives Temporal's
// history retention, and the unprovision deletes it with the resource.
const DesiredStatePath = ".cde-spark-provisioner-desired.json"

// DesiredStateVersion is the version of the DesiredState format this provisioner writes.
const DesiredStateVersion = 1

// DesiredState is the content of DesiredStatePath. Job holds the whole conf, secrets included:
// it stays in CDE, where the job holds them anyway, and never goes into history or the logs.
type DesiredState struct {
	Version     int     `json:"version"`
	ComponentID string  `json:"componentId"`
	JobName     string  `json:"jobName"`
	Job         cde.Job `json:"job"`
	// PyMirror is the PyPI mirror the job's python-env is built from (the descriptor's pyMirror;
	// CDE does not report it back): a repair that recreates the python-env builds it from there.
	PyMirror string `json:"pyMirror,omitempty"`
}

// ReadDesiredState reads the desired state recorded for the job. found is false, with no error,
// when none is recorded (the resource or the file is absent: a job provisioned before it was
// recorded, or never provisioned).
func ReadDesiredState(ctx context.Context, jobs *cde.JobsClient, jobName string) (state DesiredState, found bool, err error) {
	raw, err := readDesiredRaw(ctx, jobs, jobName)
	if err != nil || raw == nil {
		return DesiredState{}, false, err
	}
	if err := json.Unmarshal(raw, &state); err != nil {
		return DesiredState{}, false, fmt.Errorf("desired state of job %s: %w", jobName, err)
	}
	if state.Version != DesiredStateVersion {
		return DesiredState{}, false, fmt.Errorf("desired state of job %s has version %d, this provisioner reads %d", jobName, state.Version, DesiredStateVersion)
	}
	return state, true, nil
}

// readDesiredRaw is the recorded file as it is, nil when absent.
func readDesiredRaw(ctx context.Context, jobs *cde.JobsClient, jobName string) ([]byte, error) {
	res := descriptor.ManifestResourceName(jobName)
	raw, err := jobs.DownloadSmallFile(ctx, res, DesiredStatePath)
	switch {
	case errors.Is(err, cde.ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("read the desired state of job %s from resource %s: %w", jobName, res, err)
	}
	return raw, nil
}

// desiredStateJSON is what writeDesiredState writes for the job as sent to CDE.
func desiredStateJSON(componentID string, job cde.Job, pyMirror string) ([]byte, error) {
	return json.MarshalIndent(DesiredState{Version: DesiredStateVersion, ComponentID: componentID, JobName: job.Name, Job: job, PyMirror: pyMirror}, "", "  ")
}

// writeDesiredState records the job as sent to CDE in its manifest resource, unless previous (the
// file as read before the upsert, nil for none) says the same already. The resource is created
// when the write answers 404: SyncFiles creates it in current runs, not in those of older
// workflow versions.
func writeDesiredState(ctx context.Context, jobs *cde.JobsClient, target Target, componentID string, job cde.Job, pyMirror string, previous []byte) error {
	raw, err := desiredStateJSON(componentID, job, pyMirror)
	if err != nil {
		return err
	}
	if bytes.Equal(raw, previous) {
		return nil
	}
	res := descriptor.ManifestResourceName(job.Name)
	write := func() error { return jobs.UploadFile(ctx, res, DesiredStatePath, bytesReader(raw), int64(len(raw))) }
	err = write()
	if errors.Is(err, cde.ErrNotFound) {
		if _, cerr := createResource(ctx, jobs, ResourceInput{Target: target, Name: res, Type: cde.ResourceTypeFiles}); cerr != nil {
			return cerr
		}
		err = write()
	}
	if err != nil {
		return classify("write the desired state of job "+job.Name+" to resource "+res, err)
	}
	return nil
}
