package artifacts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// Sentinel errors that callers branch on with errors.Is; an *Error matches them by HTTP status
// or S3 error code.
var (
	// ErrNotFound: the object or its bucket does not exist (404, NoSuchKey, NoSuchBucket).
	// A HEAD answer has no body, so a missing bucket and a missing key look the same.
	ErrNotFound = errors.New("object not found")
	// ErrAccessDenied: the store refused the credentials' access to the object (403).
	ErrAccessDenied = errors.New("access denied")
	// ErrChanged: the object no longer has the ETag it was pinned to (412 PreconditionFailed,
	// or a store that ignores If-Match answered with another version).
	ErrChanged = errors.New("object changed since it was read")
	// ErrCredentials: the store refused the request's credentials or signature rather than
	// the access to this object (InvalidAccessKeyId, SignatureDoesNotMatch,
	// RequestTimeTooSkewed, ExpiredToken, ...): the worker's configuration is at fault, and
	// every object would get the same answer. Most of these are 403s, so they match
	// ErrAccessDenied too; a permission missing on the object is ErrAccessDenied without
	// ErrCredentials.
	ErrCredentials = errors.New("credentials refused")
)

// credentialCodes are S3's error codes that refuse the credentials or the signature, not the
// access to one object.
var credentialCodes = map[string]bool{
	"InvalidAccessKeyId":           true,
	"SignatureDoesNotMatch":        true,
	"RequestTimeTooSkewed":         true,
	"ExpiredToken":                 true,
	"TokenRefreshRequired":         true,
	"InvalidToken":                 true,
	"InvalidSecurity":              true,
	"AccountProblem":               true,
	"NotSignedUp":                  true,
	"MissingSecurityHeader":        true,
	"AuthorizationHeaderMalformed": true,
}

// maxErrorMessage bounds the store's message kept in an error: enough to diagnose.
const maxErrorMessage = 512

// Error is a failed operation on one object. It never holds credentials: the SDK's signing
// headers are not kept, only the status, the S3 error code and message and the request id.
type Error struct {
	Op        string                // "HeadObject", "GetObject" or "read" (of a body being streamed)
	Location  descriptor.S3Location // the object
	Status    int                   // HTTP status, 0 when the store did not answer
	Code      string                // S3 error code (e.g. "NoSuchKey", "SlowDown"), when known
	Message   string                // the store's message, truncated
	RequestID string                // x-amz-request-id, when the store sent one
	// BucketRegion is the region the store says the bucket lives in (x-amz-bucket-region),
	// set when it answered 301 because the client signed for another region.
	BucketRegion string
	// Attempts is how many requests the SDK made before giving up, when it retried.
	Attempts int
	// Err is the underlying SDK or network error; errors.Is sees through it (e.g. to
	// context.Canceled).
	Err error

	kind      error // a sentinel decided here rather than by the store (ErrChanged on an ETag check)
	transient bool
}

// Error names the operation and the object, then the store's answer or the network failure.
func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "artifacts: %s %s: ", e.Op, e.Location)
	switch {
	case e.kind != nil && e.Status == 0:
		b.WriteString(e.Message)
	case e.Status != 0:
		fmt.Fprintf(&b, "%d %s", e.Status, http.StatusText(e.Status))
		if e.Code != "" {
			fmt.Fprintf(&b, " (%s)", e.Code)
		}
		if e.Message != "" {
			fmt.Fprintf(&b, ": %s", e.Message)
		}
		if e.BucketRegion != "" {
			fmt.Fprintf(&b, "; the bucket is in region %s, set AWS_REGION=%s", e.BucketRegion, e.BucketRegion)
		}
		if e.RequestID != "" {
			fmt.Fprintf(&b, " [request id %s]", e.RequestID)
		}
	default:
		b.WriteString(causeText(e.Err))
	}
	if e.Attempts > 1 {
		fmt.Fprintf(&b, " (after %d attempts)", e.Attempts)
	}
	return b.String()
}

// Unwrap exposes the SDK error so that errors.Is/As reach context and network errors.
func (e *Error) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrNotFound) and friends work on an *Error.
func (e *Error) Is(target error) bool {
	if e.kind != nil && target == e.kind {
		return true
	}
	switch target {
	case ErrNotFound:
		return e.Status == http.StatusNotFound || e.Code == "NoSuchKey" || e.Code == "NoSuchBucket"
	case ErrAccessDenied:
		return e.Status == http.StatusForbidden || e.Code == "AccessDenied"
	case ErrChanged:
		// A Put's 412 says the object exists (ErrExists), not that a read object changed.
		return e.kind != ErrExists && (e.Status == http.StatusPreconditionFailed || e.Code == "PreconditionFailed")
	case ErrExists:
		return false // only as kind, set by a Put with IfAbsent
	case ErrCredentials:
		return credentialCodes[e.Code]
	}
	return false
}

// deniedAction finds the action a denial names: AWS explains some denials as "User: <arn> is
// not authorized to perform: s3:GetObject on resource: ...". The ARNs around it hold no
// "perform: ", so the first occurrence is the action.
var deniedAction = regexp.MustCompile(`perform: ([a-z0-9-]+:[A-Za-z0-9*]+)`)

// DeniedAction returns the action that a 403 of the store says the caller may not perform
// (e.g. "s3:GetObject", "s3:ListBucket", "kms:Decrypt"), or "" when the store did not say,
// which is what S3 answers to HEAD requests (no body), across accounts and in its classic
// "Access Denied" message. Stat asks with a GET when a HEAD is refused, to get the message.
func DeniedAction(err error) string {
	e, ok := errors.AsType[*Error](err)
	if !ok || !errors.Is(e, ErrAccessDenied) {
		return ""
	}
	if m := deniedAction.FindStringSubmatch(e.Message); m != nil {
		return m[1]
	}
	return ""
}

// Transient reports whether repeating the same operation later may succeed.
func (e *Error) Transient() bool { return e.transient }

// IsTransient reports whether err is worth retrying with backoff, i.e. whether a Temporal
// activity should return it as a retryable error: 5xx answers, throttling (503 SlowDown,
// 429), S3's 400 RequestTimeout, connection failures, timeouts and bodies cut short. It is
// false for nil, for a canceled context (the caller gave up), for TLS certificate failures
// (configuration), for ErrNotFound, ErrAccessDenied and ErrChanged (the same request gets the
// same answer: ErrChanged means the caller must stat again, not repeat the read) and for
// every other 4xx. The HTTP classification is the AWS SDK's own (retry.DefaultRetryables), so
// this agrees with what the SDK already retried before giving up.
func IsTransient(err error) bool {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.transient
	}
	return classify(err)
}

func classify(err error) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, ErrChanged), errors.Is(err, ErrNotFound), errors.Is(err, ErrAccessDenied):
		return false
	case errors.Is(err, context.Canceled):
		return false
	case isCertificateError(err):
		return false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, io.ErrUnexpectedEOF):
		// A deadline shorter than the activity's own is a slow store, not a wrong request.
		return true
	}
	if status, ok := httpStatus(err); ok && (status == http.StatusRequestTimeout || status == http.StatusTooManyRequests) {
		return true
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

func isCertificateError(err error) bool {
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return true
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return true
	}
	_, ok := errors.AsType[x509.CertificateInvalidError](err)
	return ok
}

func httpStatus(err error) (int, bool) {
	if re, ok := errors.AsType[*smithyhttp.ResponseError](err); ok && re.Response != nil {
		return re.Response.StatusCode, true
	}
	return 0, false
}

// newError wraps an SDK error of op on loc, keeping only what is safe and useful to show.
func newError(op string, loc descriptor.S3Location, err error) *Error {
	e := &Error{Op: op, Location: loc, Err: err}
	if re, ok := errors.AsType[*smithyhttp.ResponseError](err); ok && re.Response != nil {
		e.Status = re.Response.StatusCode
		e.BucketRegion = re.Response.Header.Get("X-Amz-Bucket-Region")
		if e.Status/100 != 3 {
			e.BucketRegion = "" // S3 sends the header on every answer; it is news only on a redirect
		}
	}
	if ae, ok := errors.AsType[smithy.APIError](err); ok {
		e.Code = ae.ErrorCode()
		e.Message = truncate(ae.ErrorMessage(), maxErrorMessage)
		if e.Message == e.Code || e.Message == http.StatusText(e.Status) {
			e.Message = "" // HEAD answers carry no body: the SDK repeats the status as message
		}
	}
	if me, ok := errors.AsType[*retry.MaxAttemptsError](err); ok {
		e.Attempts = me.Attempt
	}
	if rid, ok := errors.AsType[interface {
		error
		ServiceRequestID() string
	}](err); ok {
		e.RequestID = rid.ServiceRequestID()
	}
	e.transient = classify(err)
	return e
}

// changedError reports a pinned read that got another version than the one asked for.
func changedError(op string, loc descriptor.S3Location, want, got string) *Error {
	return &Error{
		Op: op, Location: loc, kind: ErrChanged,
		Message: fmt.Sprintf("object changed since it was read: ETag is %s, expected %s", got, want),
	}
}

// causeText renders a failure without an HTTP answer. The SDK's own text repeats the
// operation and wraps a network error in empty response fields ("https response error
// StatusCode: 0, RequestID: , ..."); the request that failed and why is what helps, e.g.
// `Head "http://host/bucket/key": dial tcp ...: connection refused` (no credential is in a URL:
// requests are signed in headers).
func causeText(err error) string {
	if err == nil {
		return "unknown error"
	}
	if se, ok := errors.AsType[*smithyhttp.RequestSendError](err); ok && se.Err != nil {
		return se.Err.Error()
	}
	if oe, ok := errors.AsType[*smithy.OperationError](err); ok && oe.Err != nil {
		return oe.Err.Error()
	}
	return err.Error()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && s[cut]&0xC0 == 0x80 { // do not split a UTF-8 sequence
		cut--
	}
	return s[:cut] + "…"
}
