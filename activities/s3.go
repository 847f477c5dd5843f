package activities

import (
	"context"
	"fmt"
	"io"
	"sync"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// ArtifactStore is what the activities need of S3 (package artifacts provides it).
type ArtifactStore interface {
	// Stat returns the size and ETag of an object; found is false when it does not exist.
	Stat(ctx context.Context, loc descriptor.S3Location) (obj StoreObject, found bool, err error)
	// Open streams the object; with a non-empty etag it fails when the object changed since.
	Open(ctx context.Context, loc descriptor.S3Location, etag string) (io.ReadCloser, error)
	// IsTransient says whether an error of the store is worth retrying.
	IsTransient(err error) bool
}

// StoreObject is an object as the store reports it.
type StoreObject struct {
	Size int64
	ETag string
}

// DefaultStatConcurrency bounds the S3 checks of one job done at once.
const DefaultStatConcurrency = 8

// CheckArtifacts checks that every artifact exists on S3, side by side, and returns the missing
// ones as problems worded as the reference worded them, plus the size and ETag of the others
// (so uploads read the version that was checked).
func (a *Activities) CheckArtifacts(ctx context.Context, arts []descriptor.Artifact) (ArtifactsCheck, error) {
	type outcome struct {
		obj   StoreObject
		found bool
		err   error
	}
	results := make([]outcome, len(arts))
	limit := a.StatConcurrency
	if limit <= 0 {
		limit = DefaultStatConcurrency
	}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, art := range arts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i].err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			obj, found, err := a.Store.Stat(ctx, art.Location)
			results[i] = outcome{obj, found, err}
		}()
	}
	wg.Wait()

	var out ArtifactsCheck
	for i, r := range results {
		switch {
		case r.err != nil:
			return ArtifactsCheck{}, classify("check "+arts[i].Location.String()+" on S3", r.err, a.Store.IsTransient)
		case !r.found:
			out.Problems = append(out.Problems, descriptor.ArtifactNotFound(arts[i]))
		default:
			out.Objects = append(out.Objects, ArtifactObject{Artifact: arts[i], Size: r.obj.Size, ETag: r.obj.ETag})
		}
	}
	return out, nil
}

// UploadArtifact streams one artifact from S3 into a CDE resource under its basename. The bytes
// flow from the S3 response body into the multipart request body without being held in memory;
// progress is heartbeated so a stuck or crashed upload is noticed and retried. Uploading the
// same file again overwrites it, which makes the activity idempotent.
func (a *Activities) UploadArtifact(ctx context.Context, in UploadInput) (UploadResult, error) {
	loc := in.Object.Artifact.Location
	path := loc.Basename()
	jobs, err := a.jobs(in.Target)
	if err != nil {
		return UploadResult{}, err
	}
	body, err := a.Store.Open(ctx, loc, in.Object.ETag)
	if err != nil {
		return UploadResult{}, classify("read "+loc.String()+" from S3", err, a.Store.IsTransient)
	}
	defer body.Close()
	counted := &progressReader{r: body, ctx: ctx, total: in.Object.Size}
	if err := jobs.UploadFile(ctx, in.Resource, path, counted, in.Object.Size); err != nil {
		if counted.readErr != nil {
			return UploadResult{}, classify("read "+loc.String()+" from S3", counted.readErr, a.Store.IsTransient)
		}
		return UploadResult{}, classify(fmt.Sprintf("upload %s to resource %s", path, in.Resource), err)
	}
	if counted.n != in.Object.Size {
		return UploadResult{}, temporal.NewApplicationError(
			fmt.Sprintf("%s: read %d bytes, S3 reported %d", loc, counted.n, in.Object.Size), ErrTypeTransient)
	}
	return UploadResult{Path: path, Bytes: counted.n}, nil
}

// progressReader counts the bytes read and heartbeats the count (the SDK throttles heartbeats,
// so calling it on every read is cheap). It keeps the source's error apart from the upload's.
type progressReader struct {
	r       io.Reader
	ctx     context.Context
	n       int64
	total   int64
	readErr error
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if err != nil && err != io.EOF {
		p.readErr = err
	}
	if activity.IsActivity(p.ctx) {
		activity.RecordHeartbeat(p.ctx, p.n)
	}
	return n, err
}
