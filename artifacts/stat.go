package artifacts

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// Object is what the store says about one object.
type Object struct {
	Location descriptor.S3Location
	Size     int64
	// ETag as the store sent it, quotes included; OpenIfMatch pins a read to it.
	ETag string
	// ChecksumSHA256 is the base64 SHA-256 the object was uploaded with, empty when the store
	// keeps none (objects uploaded without a checksum, most S3-compatible stores).
	ChecksumSHA256 string
	LastModified   time.Time
	// Metadata is the object's user metadata (x-amz-meta-*), keys in lower case; Stat and Put
	// fill it, Open does not.
	Metadata map[string]string
}

// Stat reads the object's metadata with HeadObject. A missing object or bucket is an *Error
// matching ErrNotFound. A refused one matches ErrAccessDenied; since a HEAD answer has no
// body, Stat then asks once more with a one-byte GET, whose error document says why (S3's
// code and message: AccessDenied and, when S3 explains it, the action refused, or a refusal of
// the credentials themselves, ErrCredentials). Note that S3 answers 403, not 404, for a
// missing key when the caller lacks s3:ListBucket on the bucket.
func (s *Store) Stat(ctx context.Context, loc descriptor.S3Location) (Object, error) {
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(loc.Bucket),
		Key:    aws.String(loc.Key),
		// Asks for the stored checksum; stores that do not know the header ignore it.
		ChecksumMode: types.ChecksumModeEnabled,
	})
	if err != nil {
		e := newError("HeadObject", loc, err)
		if e.Status == http.StatusForbidden {
			s.explainForbidden(ctx, e)
		}
		return Object{}, e
	}
	return Object{
		Location:       loc,
		Size:           aws.ToInt64(out.ContentLength),
		ETag:           aws.ToString(out.ETag),
		ChecksumSHA256: aws.ToString(out.ChecksumSHA256),
		LastModified:   aws.ToTime(out.LastModified),
		Metadata:       lowerKeys(out.Metadata),
	}, nil
}

// lowerKeys gives user metadata the keys S3 answers with (HTTP headers are case-insensitive;
// AWS lower-cases them, other stores may not).
func lowerKeys(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

// explainForbidden fills the code and message of a refused HEAD from a GET of the object's
// first byte: the GET needs the same permission (s3:GetObject) and gets the same refusal, with
// the error document a HEAD answer cannot carry. Should the GET not be refused the same way (a
// policy changed in between, a network failure), the HEAD's answer stands as it is.
func (s *Store) explainForbidden(ctx context.Context, e *Error) {
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(e.Location.Bucket),
		Key:    aws.String(e.Location.Key),
		Range:  aws.String("bytes=0-0"),
	})
	if err == nil {
		out.Body.Close()
		return
	}
	g := newError("GetObject", e.Location, err)
	if g.Status != http.StatusForbidden || g.Code == "" {
		return
	}
	e.Code, e.Message = g.Code, g.Message
	if g.RequestID != "" {
		e.RequestID = g.RequestID
	}
}

// DefaultStatConcurrency is the number of HEAD requests StatAll keeps in flight when asked for
// less than one.
const DefaultStatConcurrency = 8

// StatResult is the answer for one location of StatAll.
type StatResult struct {
	Location descriptor.S3Location
	Object   Object // valid when Err is nil
	Err      error  // nil, or an *Error (ErrNotFound for a missing object)
}

// Missing reports whether the store said the object does not exist.
func (r StatResult) Missing() bool { return errors.Is(r.Err, ErrNotFound) }

// StatAll stats every location with at most concurrency HEAD requests in flight and returns
// one result per location, in input order, whatever happened to the others: a validation
// reports every missing artifact at once.
//
// The error is nil unless the whole check must be repeated: it is the context's error when
// ctx ended, else the transient failure of the lowest index (so the same failures always
// surface the same error), for the caller to return as retryable. Permanent failures (missing,
// access denied) are only in the results. Every location is stat-ed even after a transient
// failure: artifact lists are short, and the answer stays independent of scheduling.
func (s *Store) StatAll(ctx context.Context, locs []descriptor.S3Location, concurrency int) ([]StatResult, error) {
	if concurrency < 1 {
		concurrency = DefaultStatConcurrency
	}
	results := make([]StatResult, len(locs))
	for i, l := range locs {
		results[i].Location = l
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(concurrency, len(locs)) {
		wg.Go(func() {
			for i := range next {
				obj, err := s.Stat(ctx, locs[i])
				results[i] = StatResult{Location: locs[i], Object: obj, Err: err}
			}
		})
	}
	fed := 0
feed:
	for ; fed < len(locs); fed++ {
		select {
		case next <- fed:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()

	if err := ctx.Err(); err != nil {
		for i := fed; i < len(locs); i++ {
			results[i].Err = newError("HeadObject", locs[i], err) // never sent
		}
		return results, err
	}
	for _, r := range results {
		if r.Err != nil && IsTransient(r.Err) {
			return results, r.Err
		}
	}
	return results, nil
}
