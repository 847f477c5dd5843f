package artifacts_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
)

func TestErrorClassification(t *testing.T) {
	type answer func(w http.ResponseWriter, r *http.Request)
	s3err := func(status int, code, msg string, header map[string]string) answer {
		return func(w http.ResponseWriter, r *http.Request) { s3Error(w, r, status, code, msg, header) }
	}

	tests := []struct {
		name          string
		answer        answer
		getOnly       bool // the classification needs the error code, which only a GET answer carries
		wantIs        error
		wantTransient bool
		wantStatus    int
		wantInMessage string
	}{
		{name: "500 InternalError is transient", answer: s3err(500, "InternalError", "We encountered an internal error. Please try again.", nil), wantTransient: true, wantStatus: 500},
		{name: "503 SlowDown is transient", answer: s3err(503, "SlowDown", "Please reduce your request rate.", nil), wantTransient: true, wantStatus: 503},
		{name: "503 ServiceUnavailable is transient", answer: s3err(503, "ServiceUnavailable", "Service is unable to handle request.", nil), wantTransient: true, wantStatus: 503},
		{name: "502 from a proxy in front of the store is transient", answer: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) }, wantTransient: true, wantStatus: 502},
		{name: "429 from a proxy is transient", answer: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) }, wantTransient: true, wantStatus: 429},
		{name: "400 RequestTimeout (socket idle too long) is transient", answer: s3err(400, "RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period.", nil), getOnly: true, wantTransient: true, wantStatus: 400},
		{name: "501 NotImplemented is permanent", answer: s3err(501, "NotImplemented", "A header you provided implies functionality that is not implemented.", nil), wantStatus: 501},
		{name: "403 AccessDenied is ErrAccessDenied and permanent", answer: s3err(403, "AccessDenied", "Access Denied", nil), wantIs: artifacts.ErrAccessDenied, wantStatus: 403},
		{
			name: "403 SignatureDoesNotMatch is ErrAccessDenied and its error quotes no credential",
			answer: func(w http.ResponseWriter, r *http.Request) {
				// S3 echoes the access key id and the string to sign in this answer's body.
				w.Header().Set("Content-Type", "application/xml")
				w.WriteHeader(http.StatusForbidden)
				if r.Method != http.MethodHead {
					fmt.Fprintf(w, `<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided. Check your key and signing method.</Message><AWSAccessKeyId>%s</AWSAccessKeyId><StringToSign>%s</StringToSign></Error>`,
						testAccessKeyID, r.Header.Get("Authorization"))
				}
			},
			wantIs: artifacts.ErrAccessDenied, wantStatus: 403,
		},
		{name: "400 ExpiredToken is permanent", answer: s3err(400, "ExpiredToken", "The provided token has expired.", nil), getOnly: true, wantStatus: 400},
		{name: "404 NoSuchKey is ErrNotFound and permanent", answer: s3err(404, "NoSuchKey", "The specified key does not exist.", nil), wantIs: artifacts.ErrNotFound, wantStatus: 404},
		{
			name:          "301 for a bucket in another region is permanent and names the region to configure",
			answer:        s3err(301, "PermanentRedirect", "The bucket you are attempting to access must be addressed using the specified endpoint.", map[string]string{"X-Amz-Bucket-Region": "eu-west-1"}),
			wantStatus:    301,
			wantInMessage: "AWS_REGION=eu-west-1",
		},
		{
			name: "a connection closed without an answer is transient",
			answer: func(w http.ResponseWriter, r *http.Request) {
				conn, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					conn.Close()
				}
			},
			wantTransient: true,
		},
	}

	ops := []struct {
		name string
		call func(ctx context.Context, s *artifacts.Store) error
	}{
		{"Stat", func(ctx context.Context, s *artifacts.Store) error {
			_, err := s.Stat(ctx, loc("faulty.jar"))
			return err
		}},
		{"Open", func(ctx context.Context, s *artifacts.Store) error {
			body, _, err := s.Open(ctx, loc("faulty.jar"))
			if err == nil {
				body.Close()
			}
			return err
		}},
	}

	for _, tt := range tests {
		for _, op := range ops {
			if tt.getOnly && op.name == "Stat" {
				continue
			}
			t.Run(op.name+"/"+tt.name, func(t *testing.T) {
				fake := newFakeS3(t, func(http.Handler) http.Handler { return http.HandlerFunc(tt.answer) })
				// One attempt: the test sees the store's first answer, not the SDK's retries.
				store := newStore(t, fake, artifacts.WithRetryMaxAttempts(1))

				err := op.call(t.Context(), store)
				require.Error(t, err)
				if tt.wantIs != nil {
					assert.ErrorIs(t, err, tt.wantIs)
				}
				for _, other := range []error{artifacts.ErrNotFound, artifacts.ErrAccessDenied, artifacts.ErrChanged} {
					if other != tt.wantIs {
						assert.NotErrorIs(t, err, other)
					}
				}
				assert.Equal(t, tt.wantTransient, artifacts.IsTransient(err), "IsTransient(%v)", err)

				e, ok := errors.AsType[*artifacts.Error](err)
				require.True(t, ok, "an *artifacts.Error: %v", err)
				assert.Equal(t, tt.wantStatus, e.Status)
				assert.Equal(t, loc("faulty.jar"), e.Location)
				msg := err.Error()
				t.Logf("%s", msg)
				assert.Contains(t, msg, "s3://artifacts/faulty.jar", "the error names the object")
				assert.NotContains(t, msg, testSecretKey)
				assert.NotContains(t, msg, testAccessKeyID)
				assert.NotContains(t, msg, "Signature=")
				if tt.wantInMessage != "" {
					assert.Contains(t, msg, tt.wantInMessage)
				}
			})
		}
	}
}

func TestSDKRetriesTransientAnswersBeforeGivingUp(t *testing.T) {
	tests := []struct {
		name        string
		failures    int // 503 answers before the store answers normally
		maxAttempts int
		wantErr     bool
		wantCalls   int
	}{
		{name: "two 503s then success within three attempts is a success", failures: 2, maxAttempts: 3, wantCalls: 3},
		{name: "three 503s with three attempts is a transient error", failures: 3, maxAttempts: 3, wantErr: true, wantCalls: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := &counted{}
			flaky := func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if calls.count() <= tt.failures {
						s3Error(w, r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.", nil)
						return
					}
					next.ServeHTTP(w, r)
				})
			}
			fake := newFakeS3(t, calls.middleware, flaky)
			l := fake.put(t, "lib.jar", []byte("jar"))
			store := newStore(t, fake, artifacts.WithRetryMaxAttempts(tt.maxAttempts), artifacts.WithRetryMaxBackoff(time.Millisecond))

			_, err := store.Stat(t.Context(), l)
			if tt.wantErr {
				require.Error(t, err)
				assert.True(t, artifacts.IsTransient(err))
				assert.Contains(t, err.Error(), fmt.Sprintf("after %d attempts", tt.maxAttempts))
			} else {
				require.NoError(t, err)
			}
			assert.Equal(t, tt.wantCalls, calls.count())
		})
	}
}

func TestIsTransientOnPlainErrors(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{name: "nil is not transient", err: nil, want: false},
		{name: "a canceled context is not transient", err: fmt.Errorf("stat: %w", context.Canceled), want: false},
		{name: "a deadline is transient", err: fmt.Errorf("stat: %w", context.DeadlineExceeded), want: true},
		{name: "a body cut short is transient", err: io.ErrUnexpectedEOF, want: true},
		{name: "a refused connection is transient", err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}, want: true},
		{name: "ErrNotFound is not transient", err: artifacts.ErrNotFound, want: false},
		{name: "ErrChanged is not transient", err: artifacts.ErrChanged, want: false},
		{name: "an unknown error is not transient", err: errors.New("boom"), want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, artifacts.IsTransient(tt.err))
		})
	}
}

func TestCanceledContext(t *testing.T) {
	fake := newFakeS3(t)
	l := fake.put(t, "lib.jar", []byte("jar"))
	store := newStore(t, fake)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	tests := []struct {
		name string
		call func() error
	}{
		{name: "Stat with a canceled context fails with context.Canceled", call: func() error { _, err := store.Stat(ctx, l); return err }},
		{name: "Open with a canceled context fails with context.Canceled", call: func() error { _, _, err := store.Open(ctx, l); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			require.ErrorIs(t, err, context.Canceled)
			assert.False(t, artifacts.IsTransient(err))
			assert.True(t, strings.Contains(err.Error(), l.String()), "names the object: %v", err)
		})
	}
}
