package activities

import "context"

// UploadOne exposes upload to the external tests, with the progress it reports.
func (a *Activities) UploadOne(ctx context.Context, in UploadInput, progress func(int64)) (int64, error) {
	jobs, err := a.jobs(in.Target)
	if err != nil {
		return 0, err
	}
	return a.upload(ctx, jobs, in, progress)
}

// DriftNames are the names of the registry's workflow, updates and query and of the workflows
// discovery lists, for the test that they agree with package workflows'.
var DriftNames = map[string]string{
	"registry": driftRegistryName, "merge": driftUpdateMerge, "record": driftUpdateRecord, "state": driftQueryState,
	"provision": provisionTypeName, "unprovision": unprovisionTypeName,
}
