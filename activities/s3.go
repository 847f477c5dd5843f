package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"go.temporal.io/sdk/temporal"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// CheckArtifacts checks that every artifact exists on S3, side by side (bounded by
// StatConcurrency), and returns the missing ones as problems worded as the reference worded them,
// plus the size and ETag of the others, so that uploads read exactly the version that was checked.
func (a *Activities) CheckArtifacts(ctx context.Context, arts []descriptor.Artifact) (ArtifactsCheck, error) {
	locs := make([]descriptor.S3Location, len(arts))
	for i, art := range arts {
		locs[i] = art.Location
	}
	results, err := a.Store.StatAll(ctx, locs, a.StatConcurrency)
	if err != nil {
		return ArtifactsCheck{}, classify("check the artifacts on S3", err, artifacts.IsTransient)
	}
	var out ArtifactsCheck
	for i, r := range results {
		a.Metrics.s3(ctx, "stat", r.Err, r.Missing())
		switch {
		case r.Missing():
			out.Problems = append(out.Problems, descriptor.ArtifactNotFound(arts[i]))
		case r.Err != nil:
			return ArtifactsCheck{}, classify("check "+arts[i].Location.String()+" on S3", r.Err, artifacts.IsTransient)
		default:
			out.Objects = append(out.Objects, ArtifactObject{Artifact: arts[i], Size: r.Object.Size, ETag: r.Object.ETag})
		}
	}
	return out, nil
}

// upload streams one artifact from S3 into a CDE resource under its basename: the bytes flow
// from the S3 response body into the multipart request body without being held in memory, and
// every read reports its size to progress (heartbeats). The S3 read is pinned to the ETag that
// was checked, so a file replaced meanwhile is an error rather than a silent mix of versions.
// Uploading again overwrites the file, which makes a retry harmless.
func (a *Activities) upload(ctx context.Context, jobs *cde.JobsClient, in UploadInput, progress func(int64)) (int64, error) {
	loc := in.Object.Artifact.Location
	path := loc.Basename()
	var counted *progressReader
	// Opened again only if CDE refuses the token mid-way (then the file is read from the start).
	open := func() (io.ReadCloser, error) {
		body, _, err := a.Store.OpenIfMatch(ctx, loc, in.Object.ETag)
		a.Metrics.s3(ctx, "get", err, false)
		if err != nil {
			return nil, classify("read "+loc.String()+" from S3", err, artifacts.IsTransient)
		}
		counted = &progressReader{r: body, closer: body, progress: func(n int64) {
			a.Metrics.uploaded(ctx, n)
			progress(n)
		}}
		return counted, nil
	}
	if err := jobs.UploadFileFrom(ctx, in.Resource, path, open, in.Object.Size); err != nil {
		if counted != nil && counted.readErr != nil {
			return 0, classify("read "+loc.String()+" from S3", counted.readErr, artifacts.IsTransient)
		}
		if _, ok := errors.AsType[*temporal.ApplicationError](err); ok {
			return 0, err // already classified by open
		}
		return 0, classify(fmt.Sprintf("upload %s to resource %s", path, in.Resource), err)
	}
	if counted.n != in.Object.Size {
		return 0, temporal.NewApplicationError(
			fmt.Sprintf("%s: read %d bytes, S3 reported %d", loc, counted.n, in.Object.Size), ErrTypeTransient)
	}
	return counted.n, nil
}

// progressReader counts the bytes read and reports them (heartbeats are throttled by the SDK,
// so reporting every read is cheap). It keeps the source's error apart from the upload's.
type progressReader struct {
	r        io.Reader
	closer   io.Closer
	n        int64
	progress func(int64)
	readErr  error
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if err != nil && err != io.EOF {
		p.readErr = err
	}
	if n > 0 && p.progress != nil {
		p.progress(int64(n))
	}
	return n, err
}

// Close closes the S3 body.
func (p *progressReader) Close() error { return p.closer.Close() }

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
