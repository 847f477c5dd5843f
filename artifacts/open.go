package artifacts

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// Open starts a GetObject and returns its body as a stream: nothing is buffered beyond the
// HTTP transport's own small buffers, so an object of any size costs the same memory. The
// caller must Close the body. Read errors are *Error values with Op "read", classified like
// the others (a connection cut mid-stream is transient).
func (s *Store) Open(ctx context.Context, loc descriptor.S3Location) (io.ReadCloser, Object, error) {
	return s.open(ctx, loc, "")
}

// OpenIfMatch is Open pinned to the version with the given ETag (Object.ETag of an earlier
// Stat), so that a retried upload reads the same bytes that were validated. When the object
// changed meanwhile the error matches ErrChanged and is not transient: the caller must stat
// again. Stores that ignore If-Match on GET (gofakes3) are caught too: the ETag of the answer
// is checked before the body is handed out.
func (s *Store) OpenIfMatch(ctx context.Context, loc descriptor.S3Location, etag string) (io.ReadCloser, Object, error) {
	if etag == "" {
		return nil, Object{}, &Error{Op: "GetObject", Location: loc, kind: errEmptyETag, Message: errEmptyETag.Error()}
	}
	return s.open(ctx, loc, etag)
}

var errEmptyETag = errors.New("no ETag to pin the read to")

func (s *Store) open(ctx context.Context, loc descriptor.S3Location, etag string) (io.ReadCloser, Object, error) {
	in := &s3.GetObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Key)}
	if etag != "" {
		in.IfMatch = aws.String(etag)
	}
	out, err := s.client.GetObject(ctx, in)
	if err != nil {
		return nil, Object{}, newError("GetObject", loc, err)
	}
	obj := Object{
		Location:       loc,
		Size:           aws.ToInt64(out.ContentLength),
		ETag:           aws.ToString(out.ETag),
		ChecksumSHA256: aws.ToString(out.ChecksumSHA256),
		LastModified:   aws.ToTime(out.LastModified),
	}
	if etag != "" && !sameETag(etag, obj.ETag) {
		out.Body.Close()
		return nil, Object{}, changedError("GetObject", loc, etag, obj.ETag)
	}
	return &body{rc: out.Body, loc: loc}, obj, nil
}

// sameETag compares ETags as opaque values, ignoring the quotes and weak marker that stores
// and proxies add or drop.
func sameETag(a, b string) bool {
	norm := func(s string) string { return strings.Trim(strings.TrimPrefix(s, "W/"), `"`) }
	return norm(a) == norm(b)
}

// body names the object in read errors and classifies them; the bytes pass through untouched.
type body struct {
	rc  io.ReadCloser
	loc descriptor.S3Location
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		e := newError("read", b.loc, err)
		// Whatever breaks a body mid-stream (reset, truncation, a checksum that does not
		// match the bytes received) is worth a fresh GET, unless the caller gave up.
		e.transient = !errors.Is(err, context.Canceled)
		err = e
	}
	return n, err
}

func (b *body) Close() error { return b.rc.Close() }
