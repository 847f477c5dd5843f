package activities

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// CheckArtifacts checks that every artifact exists on S3, side by side (bounded by
// StatConcurrency), and returns the missing ones as problems worded as the reference worded them,
// plus the size and ETag of the others, so that uploads read exactly the version that was checked.
//
// An artifact S3 refuses to show (403) is a problem of its field too, naming the permission the
// worker's role lacks (ArtifactAccessDenied): the answer is the same until someone fixes the
// location or the role, so retrying would only delay it. A refusal of the worker's credentials
// themselves (a wrong key, a skewed clock) is no problem of the descriptor: it fails the check,
// for good. Other failures (5xx, throttling, the network) stay retryable.
//
// Runs of the first releases call it with the artifacts alone: the allowlist (S3_ALLOWED_PREFIXES)
// applies to them with no data product, so its templated entries allow nothing for them.
func (a *Activities) CheckArtifacts(ctx context.Context, arts []descriptor.Artifact) (ArtifactsCheck, error) {
	return a.CheckArtifactsIn(ctx, ArtifactsInput{Artifacts: arts})
}

// ArtifactsInput are the artifacts of a descriptor and its data product, which the allowlist's
// placeholders expand to.
type ArtifactsInput struct {
	Artifacts []descriptor.Artifact `json:"artifacts"`
	Scope     artifacts.Scope       `json:"scope"`
}

// CheckArtifactsIn is CheckArtifacts for the data product of in.Scope. An artifact outside the
// allowlist is a problem of its field (ArtifactNotAllowed) and is never asked of S3.
func (a *Activities) CheckArtifactsIn(ctx context.Context, in ArtifactsInput) (ArtifactsCheck, error) {
	var out ArtifactsCheck
	var arts []descriptor.Artifact
	for _, art := range in.Artifacts {
		if !a.Allowed.Allows(art.Location, in.Scope) {
			out.Problems = append(out.Problems, ArtifactNotAllowed(art, a.Allowed.Prefixes(in.Scope)))
			continue
		}
		arts = append(arts, art)
	}
	locs := make([]descriptor.S3Location, len(arts))
	for i, art := range arts {
		locs[i] = art.Location
	}
	results, err := a.Store.StatAll(ctx, locs, a.StatConcurrency)
	if err != nil {
		return ArtifactsCheck{}, classify("check the artifacts on S3", err, artifacts.IsTransient)
	}
	for i, r := range results {
		a.Metrics.s3(ctx, "stat", r.Err, r.Missing())
		switch {
		case r.Missing():
			out.Problems = append(out.Problems, descriptor.ArtifactNotFound(arts[i]))
		case errors.Is(r.Err, artifacts.ErrCredentials):
			return ArtifactsCheck{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"check %s on S3: S3 refused the worker's credentials, not a permission on the object (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN or the worker's role, and its clock): %v",
				arts[i].Location, r.Err), ErrTypeS3, nil)
		case errors.Is(r.Err, artifacts.ErrAccessDenied):
			p := ArtifactAccessDenied(arts[i], artifacts.DeniedAction(r.Err))
			activity.GetLogger(ctx).Warn("S3 denied access to an artifact", "field", p.Field, "error", r.Err.Error())
			out.Problems = append(out.Problems, p)
		case r.Err != nil:
			return ArtifactsCheck{}, classify("check "+arts[i].Location.String()+" on S3", r.Err, artifacts.IsTransient)
		default:
			out.Objects = append(out.Objects, ArtifactObject{Artifact: arts[i], Size: r.Object.Size, ETag: r.Object.ETag})
		}
	}
	return out, nil
}

// ArtifactNotAllowed is the problem of an artifact outside the worker's allowlist
// (S3_ALLOWED_PREFIXES, expanded for the descriptor's data product as allowed).
func ArtifactNotAllowed(a descriptor.Artifact, allowed []string) descriptor.Problem {
	where := "none for this data product (its domain, name or environment is missing from the descriptor)"
	if len(allowed) > 0 {
		where = strings.Join(allowed, ", ")
	}
	return descriptor.Problem{
		Field: a.Field,
		Message: fmt.Sprintf("Artifact location not allowed: %s is outside the S3 prefixes this provisioner reads artifacts from for this data product: %s",
			a.Location, where),
		Solution: "Store the artifact under one of the allowed prefixes and point the descriptor to it, or ask the platform team to allow its location (S3_ALLOWED_PREFIXES).",
	}
}

// ArtifactAccessDenied is the problem of an artifact S3 refused to show (403). It names the
// artifact and the permission the worker's role lacks: the action S3 named when it explained
// the refusal, else s3:GetObject on the object or, since S3 answers 403 rather than 404 for a
// missing key to a caller without s3:ListBucket on the bucket, s3:ListBucket; which one cannot
// be told from the answer, so the problem says both.
func ArtifactAccessDenied(a descriptor.Artifact, action string) descriptor.Problem {
	loc := a.Location
	what := map[descriptor.ArtifactRole]string{
		descriptor.RoleApplication:  "Job Source application file",
		descriptor.RoleDependency:   "Job Source dependency",
		descriptor.RoleRequirements: "Python requirements file",
	}[a.Role]
	if what == "" {
		what = "Artifact"
	}
	objectARN := "arn:aws:s3:::" + loc.Bucket + "/" + loc.Key
	bucketARN := "arn:aws:s3:::" + loc.Bucket
	var why, solution string
	switch action {
	case "":
		why = fmt.Sprintf("the provisioner worker's role lacks s3:GetObject on the object, or the object does not exist and the role lacks s3:ListBucket on bucket %s "+
			"(without s3:ListBucket, S3 answers 403 instead of 404 for a missing key, so a missing object and a forbidden one cannot be told apart)", loc.Bucket)
		solution = fmt.Sprintf("Check that %s exists (upload it or fix the location), and ask the platform team to grant the provisioner worker's role "+
			"s3:GetObject on %s and s3:ListBucket on %s (with s3:ListBucket a missing object is reported as missing).", loc, objectARN, bucketARN)
	case "s3:ListBucket":
		why = fmt.Sprintf("S3 says the provisioner worker's role lacks s3:ListBucket on bucket %s; without it S3 answers 403 instead of 404 for a missing key, "+
			"so the object most likely does not exist", loc.Bucket)
		solution = fmt.Sprintf("Check that %s exists (upload it or fix the location); ask the platform team to grant the provisioner worker's role "+
			"s3:ListBucket on %s so that a missing object is reported as missing.", loc, bucketARN)
	default:
		why = fmt.Sprintf("S3 says the provisioner worker's role lacks %s on it", action)
		solution = fmt.Sprintf("Ask the platform team to grant the provisioner worker's role %s on %s (or to lift the policy that denies it).", action, objectARN)
	}
	return descriptor.Problem{
		Field:    a.Field,
		Message:  fmt.Sprintf("%s not readable: S3 denied access to %s (403 AccessDenied): %s", what, loc, why),
		Solution: solution,
	}
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
	// Opened again when CDE refuses the token mid-way or the request failed transiently (then the
	// file is read from the start).
	open := func() (io.ReadCloser, error) {
		if counted != nil {
			// The progress is of this file once: what the attempt before sent is taken back. The
			// metric keeps it: those bytes did cross the network.
			progress(-counted.n)
		}
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
