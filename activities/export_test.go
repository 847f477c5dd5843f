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
