package artifacts_test

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
)

// methods records the method of every request.
type methods struct {
	mu  sync.Mutex
	got []string
}

func (m *methods) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.got = append(m.got, r.Method)
		m.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (m *methods) list() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.got...)
}

func TestStatExplainsARefusedHEADWithAGET(t *testing.T) {
	const explained = "User: arn:aws:sts::111122223333:assumed-role/worker/i-0 is not authorized to perform: s3:ListBucket on resource: &quot;arn:aws:s3:::artifacts&quot; because no identity-based policy allows the s3:ListBucket action"
	tests := []struct {
		name            string
		getAnswer       func(w http.ResponseWriter, r *http.Request)
		wantCode        string
		wantAction      string
		wantCredentials bool
	}{
		{
			name:      "classic AccessDenied: a permission, the action unknown",
			getAnswer: func(w http.ResponseWriter, r *http.Request) { s3Error(w, r, 403, "AccessDenied", "Access Denied", nil) },
			wantCode:  "AccessDenied",
		},
		{
			name:       "an explained AccessDenied names the action",
			getAnswer:  func(w http.ResponseWriter, r *http.Request) { s3Error(w, r, 403, "AccessDenied", explained, nil) },
			wantCode:   "AccessDenied",
			wantAction: "s3:ListBucket",
		},
		{
			name: "a refused signature is the credentials, not a permission",
			getAnswer: func(w http.ResponseWriter, r *http.Request) {
				s3Error(w, r, 403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.", nil)
			},
			wantCode: "SignatureDoesNotMatch", wantCredentials: true,
		},
		{
			name: "an unknown access key is the credentials",
			getAnswer: func(w http.ResponseWriter, r *http.Request) {
				s3Error(w, r, 403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", nil)
			},
			wantCode: "InvalidAccessKeyId", wantCredentials: true,
		},
		{
			name:      "a GET that fails otherwise leaves the HEAD's answer",
			getAnswer: func(w http.ResponseWriter, r *http.Request) { s3Error(w, r, 500, "InternalError", "oops", nil) },
			wantCode:  "Forbidden",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := &methods{}
			fake := newFakeS3(t, seen.middleware, func(http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.Method == http.MethodHead {
						s3Error(w, r, 403, "", "", nil)
						return
					}
					assert.Equal(t, "bytes=0-0", r.Header.Get("Range"), "the GET asks for one byte")
					tt.getAnswer(w, r)
				})
			})
			store := newStore(t, fake, artifacts.WithRetryMaxAttempts(1))

			_, err := store.Stat(t.Context(), loc("app.jar"))
			require.ErrorIs(t, err, artifacts.ErrAccessDenied)
			assert.NotErrorIs(t, err, artifacts.ErrNotFound)
			assert.Equal(t, tt.wantCredentials, errors.Is(err, artifacts.ErrCredentials), "%v", err)
			assert.False(t, artifacts.IsTransient(err), "a refusal is not retried: %v", err)
			assert.Equal(t, tt.wantAction, artifacts.DeniedAction(err))
			e, ok := errors.AsType[*artifacts.Error](err)
			require.True(t, ok)
			assert.Equal(t, http.StatusForbidden, e.Status)
			assert.Equal(t, tt.wantCode, e.Code)
			assert.Equal(t, "HeadObject", e.Op)
			assert.Equal(t, []string{http.MethodHead, http.MethodGet}, seen.list(), "one HEAD, one GET")
			assert.NotContains(t, err.Error(), testAccessKeyID)
			assert.NotContains(t, err.Error(), testSecretKey)
		})
	}
}

func TestStatOfAnExistingOrMissingObjectMakesNoGET(t *testing.T) {
	seen := &methods{}
	fake := newFakeS3(t, seen.middleware)
	fake.put(t, "app.jar", []byte("jar"))
	store := newStore(t, fake)
	_, err := store.Stat(t.Context(), loc("app.jar"))
	require.NoError(t, err)
	_, err = store.Stat(t.Context(), loc("missing.jar"))
	require.ErrorIs(t, err, artifacts.ErrNotFound)
	assert.Equal(t, []string{http.MethodHead, http.MethodHead}, seen.list())
}

func TestDeniedActionOfOtherErrors(t *testing.T) {
	assert.Empty(t, artifacts.DeniedAction(nil))
	assert.Empty(t, artifacts.DeniedAction(errors.New("perform: s3:GetObject")), "only a store's 403")
	assert.Empty(t, artifacts.DeniedAction(&artifacts.Error{Status: 404, Message: "not authorized to perform: s3:GetObject"}))
	assert.Equal(t, "kms:Decrypt", artifacts.DeniedAction(&artifacts.Error{Status: 403, Code: "AccessDenied",
		Message: "User: arn:aws:iam::1:user/u is not authorized to perform: kms:Decrypt on resource: arn:aws:kms:eu-west-1:1:key/k"}))
}

// Against a real S3 protocol server: s3local refusing as S3 does.
func TestStatAgainstDenialsOfALocalS3(t *testing.T) {
	isolateAWSEnv(t)
	srv, err := s3local.Start(t.Context(), s3local.Options{Buckets: []string{"denied-bucket"}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	require.NoError(t, srv.Put(t.Context(), "denied-bucket", "app.jar", strings.NewReader("jar"), 3))
	store, err := artifacts.New(t.Context(), artifacts.Config{UsePathStyle: true},
		artifacts.WithEndpoint(srv.URL()), artifacts.WithStaticCredentials(testAccessKeyID, testSecretKey, ""))
	require.NoError(t, err)
	at := func(key string) descriptor.S3Location {
		return descriptor.S3Location{Bucket: "denied-bucket", Key: key}
	}

	undo := srv.Deny(s3local.Denial{Bucket: "denied-bucket", Key: "app.jar", Action: s3local.ActionGetObject,
		Message: s3local.NotAuthorizedMessage("arn:aws:iam::111122223333:role/worker", s3local.ActionGetObject, "arn:aws:s3:::denied-bucket/app.jar")})
	_, err = store.Stat(t.Context(), at("app.jar"))
	require.ErrorIs(t, err, artifacts.ErrAccessDenied)
	assert.NotErrorIs(t, err, artifacts.ErrCredentials)
	assert.Equal(t, "s3:GetObject", artifacts.DeniedAction(err))
	undo()

	srv.Deny(s3local.Denial{Bucket: "denied-bucket", Action: s3local.ActionListBucket})
	_, err = store.Stat(t.Context(), at("missing.jar"))
	require.ErrorIs(t, err, artifacts.ErrAccessDenied, "without ListBucket a missing key is a 403")
	assert.NotErrorIs(t, err, artifacts.ErrNotFound)
	assert.Empty(t, artifacts.DeniedAction(err), "S3's classic message names no action")
	_, err = store.Stat(t.Context(), at("app.jar"))
	require.NoError(t, err, "an existing object is still readable")
}
