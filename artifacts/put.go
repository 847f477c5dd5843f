package artifacts

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// ErrExists matches the error of a Put with IfAbsent when the object is already there (S3's 412
// to If-None-Match: *). It is permanent: the object belongs to someone else, or to an earlier
// import, and is left as it is.
var ErrExists = errors.New("object already exists")

// DefaultPartSize is the part size of a multipart Put: the one buffer a Put holds, and the
// largest content sent as a single PutObject. S3 wants at least 5 MiB per part (the last
// excepted) and at most 10,000 parts, so 16 MiB covers 156 GiB.
const DefaultPartSize = 16 << 20

// maxParts is S3's limit of parts per multipart upload.
const maxParts = 10000

// abortTimeout bounds the AbortMultipartUpload sent after a failure, also when the caller's
// context has ended (which is often why the upload failed).
const abortTimeout = 30 * time.Second

// PutOption adjusts one Put.
type PutOption func(*putOptions)

type putOptions struct {
	ifAbsent bool
	partSize int64
}

// IfAbsent creates the object only if there is none under its key (If-None-Match: *): an
// existing object gives an error matching ErrExists and is not touched.
func IfAbsent() PutOption { return func(o *putOptions) { o.ifAbsent = true } }

// WithPartSize sets the part size (DefaultPartSize otherwise); S3 refuses parts under 5 MiB but
// the last, so smaller sizes are for S3-compatible test stores.
func WithPartSize(n int64) PutOption {
	return func(o *putOptions) {
		if n > 0 {
			o.partSize = n
		}
	}
}

// Put writes body to loc, streamed: memory is one part buffer whatever the size. Content that
// fits one part goes as a single PutObject; larger content as a multipart upload
// (CreateMultipartUpload, one UploadPart per part, CompleteMultipartUpload) that is aborted on
// any failure, a read error of body included, so that it leaves neither an object nor a
// pending upload. size is the length of body, or -1 when unknown; a body that ends short of a
// known size, or goes past it, is an error and nothing is written. meta is the object's user
// metadata (x-amz-meta-*; Stat returns it, keys in lower case).
//
// Every request has a seekable body (a part buffer), so the SDK signs it and retries it as
// usual. Errors are *Error values classified like Stat's, except a read error of body, which is
// returned wrapped as it is (a stream cut short is transient).
//
// With IfAbsent, S3 checks the condition on PutObject and on CompleteMultipartUpload. Stores
// that ignore it on CompleteMultipartUpload (gofakes3 v1.2.0, hence internal/s3local) are
// covered only by a HeadObject before the multipart upload starts: an object created by
// someone else during the upload is then overwritten.
func (s *Store) Put(ctx context.Context, loc descriptor.S3Location, body io.Reader, size int64, meta map[string]string, opts ...PutOption) (Object, error) {
	o := putOptions{partSize: DefaultPartSize}
	for _, opt := range opts {
		opt(&o)
	}
	if size >= 0 && size > o.partSize*maxParts {
		o.partSize = (size + maxParts - 1) / maxParts
	}
	bufSize := o.partSize
	if size >= 0 && size < bufSize {
		bufSize = size + 1 // one byte more tells a body longer than announced
	}
	buf := make([]byte, bufSize)
	n, full, err := readPart(body, buf)
	if err != nil {
		return Object{}, readError(loc, err)
	}
	if !full || int64(n) == size {
		if err := checkSize(loc, body, int64(n), size, true); err != nil {
			return Object{}, err
		}
		return s.putObject(ctx, loc, buf[:n], meta, o.ifAbsent)
	}
	return s.putMultipart(ctx, loc, body, buf, size, meta, o)
}

// readPart fills buf from r; full says r may have more. Unlike io.ReadFull it tells r's end
// (io.EOF) from r's own io.ErrUnexpectedEOF (a source cut short), which is an error.
func readPart(r io.Reader, buf []byte) (n int, full bool, err error) {
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if errors.Is(err, io.EOF) {
			return n, false, nil
		}
		if err != nil {
			return n, false, err
		}
	}
	return n, true, nil
}

// checkSize compares what was read with the announced size; atEnd says body was read to its
// end (else one more byte is asked for).
func checkSize(loc descriptor.S3Location, body io.Reader, got, size int64, atEnd bool) error {
	if size < 0 {
		return nil
	}
	if got == size && !atEnd {
		var one [1]byte
		if k, _ := io.ReadFull(body, one[:]); k == 0 {
			return nil
		}
		got++
	}
	if got != size {
		return &Error{Op: "Put", Location: loc, kind: errSizeMismatch,
			Message: fmt.Sprintf("the content has %s%d bytes, not the %d announced", moreThan(got > size), got, size)}
	}
	return nil
}

var errSizeMismatch = errors.New("size mismatch")

func moreThan(more bool) string {
	if more {
		return "more than "
	}
	return ""
}

// readError names the object whose content could not be read; the cause stays in the chain for
// IsTransient (a stream cut short is worth another attempt).
func readError(loc descriptor.S3Location, err error) error {
	return fmt.Errorf("artifacts: Put %s: read the content: %w", loc, err)
}

func (s *Store) putObject(ctx context.Context, loc descriptor.S3Location, data []byte, meta map[string]string, ifAbsent bool) (Object, error) {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(loc.Bucket),
		Key:           aws.String(loc.Key),
		Body:          bytes.NewReader(data),
		ContentLength: aws.Int64(int64(len(data))),
		ContentType:   aws.String("application/octet-stream"),
		Metadata:      meta,
	}
	if ifAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	out, err := s.client.PutObject(ctx, in)
	if err != nil {
		return Object{}, putError("PutObject", loc, err, ifAbsent)
	}
	return Object{Location: loc, Size: int64(len(data)), ETag: aws.ToString(out.ETag), ChecksumSHA256: aws.ToString(out.ChecksumSHA256), Metadata: lowerKeys(meta)}, nil
}

func (s *Store) putMultipart(ctx context.Context, loc descriptor.S3Location, body io.Reader, buf []byte, size int64, meta map[string]string, o putOptions) (Object, error) {
	if o.ifAbsent {
		switch _, err := s.Stat(ctx, loc); {
		case err == nil:
			return Object{}, &Error{Op: "HeadObject", Location: loc, kind: ErrExists, Message: ErrExists.Error()}
		case !errors.Is(err, ErrNotFound) || isNoSuchBucket(err):
			return Object{}, err
		}
	}
	created, err := s.client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket:            aws.String(loc.Bucket),
		Key:               aws.String(loc.Key),
		ContentType:       aws.String("application/octet-stream"),
		Metadata:          meta,
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
	})
	if err != nil {
		return Object{}, newError("CreateMultipartUpload", loc, err)
	}
	upload := created.UploadId
	obj, err := s.uploadParts(ctx, loc, upload, body, buf, size, meta, o.ifAbsent)
	if err != nil {
		s.abort(ctx, loc, upload)
		return Object{}, err
	}
	return obj, nil
}

// uploadParts sends the part already in buf, then the rest of body part by part, and completes
// the upload.
func (s *Store) uploadParts(ctx context.Context, loc descriptor.S3Location, upload *string, body io.Reader, buf []byte, size int64, meta map[string]string, ifAbsent bool) (Object, error) {
	var (
		parts []types.CompletedPart
		total int64
		n     = len(buf)
		full  = true
		err   error
	)
	for {
		if len(parts) == maxParts {
			return Object{}, &Error{Op: "UploadPart", Location: loc, kind: errSizeMismatch,
				Message: fmt.Sprintf("more than %d parts of %d bytes: give the size, or a larger part size", maxParts, len(buf))}
		}
		num := int32(len(parts) + 1)
		out, err := s.client.UploadPart(ctx, &s3.UploadPartInput{
			Bucket:            aws.String(loc.Bucket),
			Key:               aws.String(loc.Key),
			UploadId:          upload,
			PartNumber:        aws.Int32(num),
			Body:              bytes.NewReader(buf[:n]),
			ContentLength:     aws.Int64(int64(n)),
			ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			return Object{}, newError("UploadPart", loc, err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(num), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
		total += int64(n)
		if !full {
			break
		}
		if n, full, err = readPart(body, buf); err != nil {
			return Object{}, readError(loc, err)
		}
		if n == 0 {
			break
		}
	}
	if err = checkSize(loc, body, total, size, !full); err != nil {
		return Object{}, err
	}
	in := &s3.CompleteMultipartUploadInput{
		Bucket:          aws.String(loc.Bucket),
		Key:             aws.String(loc.Key),
		UploadId:        upload,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}
	if ifAbsent {
		in.IfNoneMatch = aws.String("*")
	}
	out, err := s.client.CompleteMultipartUpload(ctx, in)
	if err != nil {
		return Object{}, putError("CompleteMultipartUpload", loc, err, ifAbsent)
	}
	return Object{Location: loc, Size: total, ETag: aws.ToString(out.ETag), Metadata: lowerKeys(meta)}, nil
}

// abort drops a failed multipart upload and the parts it stored. Its own failure is not
// reported (the upload's error is what the caller needs); S3 lifecycle rules
// (AbortIncompleteMultipartUpload) are the backstop.
func (s *Store) abort(ctx context.Context, loc descriptor.S3Location, upload *string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
	defer cancel()
	_, _ = s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Key), UploadId: upload,
	})
}

// putError is newError for a write: with IfAbsent, a 412 says the object exists, and S3's 409
// ConditionalRequestConflict (another conditional write of the key in flight) is worth a retry.
func putError(op string, loc descriptor.S3Location, err error, ifAbsent bool) *Error {
	e := newError(op, loc, err)
	if !ifAbsent {
		return e
	}
	switch {
	case e.Status == http.StatusPreconditionFailed || e.Code == "PreconditionFailed":
		e.kind = ErrExists
		if e.Message == "" {
			e.Message = ErrExists.Error()
		}
		e.transient = false
	case e.Code == "ConditionalRequestConflict":
		e.transient = true
	}
	return e
}

func isNoSuchBucket(err error) bool {
	e, ok := errors.AsType[*Error](err)
	return ok && e.Code == "NoSuchBucket"
}

// Delete removes the object at loc; an object already absent is success (S3 answers 204 either
// way, some stores 404). A missing bucket is an error: the location is wrong.
func (s *Store) Delete(ctx context.Context, loc descriptor.S3Location) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(loc.Bucket), Key: aws.String(loc.Key)})
	if err == nil {
		return nil
	}
	e := newError("DeleteObject", loc, err)
	if errors.Is(e, ErrNotFound) && e.Code != "NoSuchBucket" {
		return nil
	}
	return e
}
