package s3local_test

import (
	"encoding/xml"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
)

type s3Answer struct {
	status int
	header http.Header
	body   []byte
	code   string
	msg    string
}

func send(t *testing.T, method, url string) s3Answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := s3Answer{status: resp.StatusCode, header: resp.Header, body: body}
	if len(body) > 0 && resp.StatusCode >= 300 {
		var e struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		}
		require.NoError(t, xml.Unmarshal(body, &e), "%s", body)
		a.code, a.msg = e.Code, e.Message
	}
	return a
}

func withObjects(t *testing.T, bucket string, keys ...string) *s3local.Server {
	t.Helper()
	srv := start(t, s3local.Options{Buckets: []string{bucket, "other"}})
	for _, k := range keys {
		require.NoError(t, srv.Put(t.Context(), bucket, k, strings.NewReader("data of "+k), int64(len("data of "+k))))
	}
	return srv
}

func TestDenyGetObjectAnswersAccessDeniedLikeS3(t *testing.T) {
	srv := withObjects(t, "bkt", "app.jar", "lib/dep.jar", "lib/other.jar", "free.jar")
	undo := srv.Deny(s3local.Denial{Bucket: "bkt", Key: "app.jar", Action: s3local.ActionGetObject})

	get := send(t, http.MethodGet, srv.URL()+"/bkt/app.jar")
	assert.Equal(t, http.StatusForbidden, get.status)
	assert.Equal(t, "AccessDenied", get.code)
	assert.Equal(t, s3local.DefaultDeniedMessage, get.msg)
	assert.Equal(t, "application/xml", get.header.Get("Content-Type"))
	assert.NotEmpty(t, get.header.Get("X-Amz-Request-Id"))
	assert.Contains(t, string(get.body), "<RequestId>"+get.header.Get("X-Amz-Request-Id")+"</RequestId>")

	head := send(t, http.MethodHead, srv.URL()+"/bkt/app.jar")
	assert.Equal(t, http.StatusForbidden, head.status)
	assert.Empty(t, head.body, "a HEAD answer has no body")

	// A missing key under a GetObject denial is refused the same way: the denial is on the key.
	srv.Deny(s3local.Denial{Bucket: "bkt", Key: "lib/*", Action: s3local.ActionGetObject, Message: "custom"})
	assert.Equal(t, http.StatusForbidden, send(t, http.MethodGet, srv.URL()+"/bkt/lib/dep.jar").status)
	assert.Equal(t, "custom", send(t, http.MethodGet, srv.URL()+"/bkt/lib/missing.jar").msg)

	// Other keys, other buckets, other actions and the listing are untouched.
	assert.Equal(t, http.StatusOK, send(t, http.MethodGet, srv.URL()+"/bkt/free.jar").status)
	assert.Equal(t, http.StatusNotFound, send(t, http.MethodHead, srv.URL()+"/bkt/nope.jar").status)
	assert.Equal(t, http.StatusOK, send(t, http.MethodGet, srv.URL()+"/bkt").status)
	require.NoError(t, srv.Put(t.Context(), "bkt", "app.jar", strings.NewReader("v2"), 2), "PutObject is another action")

	undo()
	undo() // harmless
	assert.Equal(t, http.StatusOK, send(t, http.MethodGet, srv.URL()+"/bkt/app.jar").status)
	assert.Equal(t, http.StatusForbidden, send(t, http.MethodGet, srv.URL()+"/bkt/lib/dep.jar").status, "the other denial stays")
	srv.ClearDenials()
	assert.Equal(t, http.StatusOK, send(t, http.MethodGet, srv.URL()+"/bkt/lib/dep.jar").status)
}

func TestDenyListBucketHidesWhetherAKeyExists(t *testing.T) {
	srv := withObjects(t, "bkt", "app.jar")
	srv.Deny(s3local.Denial{Bucket: "bkt", Action: s3local.ActionListBucket,
		Message: s3local.NotAuthorizedMessage("arn:aws:iam::111122223333:role/worker", s3local.ActionListBucket, "arn:aws:s3:::bkt")})

	list := send(t, http.MethodGet, srv.URL()+"/bkt?list-type=2")
	assert.Equal(t, http.StatusForbidden, list.status)
	assert.Equal(t, "AccessDenied", list.code)
	assert.Contains(t, list.msg, "is not authorized to perform: s3:ListBucket on resource")
	assert.Equal(t, http.StatusForbidden, send(t, http.MethodHead, srv.URL()+"/bkt").status)

	// A missing key is 403, not 404; an existing object is still served.
	assert.Equal(t, http.StatusForbidden, send(t, http.MethodHead, srv.URL()+"/bkt/missing.jar").status)
	missing := send(t, http.MethodGet, srv.URL()+"/bkt/missing.jar")
	assert.Equal(t, http.StatusForbidden, missing.status)
	assert.Equal(t, "AccessDenied", missing.code)
	assert.Equal(t, http.StatusOK, send(t, http.MethodGet, srv.URL()+"/bkt/app.jar").status)
	// A missing bucket is no secret; other buckets are untouched.
	assert.Equal(t, http.StatusNotFound, send(t, http.MethodHead, srv.URL()+"/nobucket/missing.jar").status)
	assert.Equal(t, http.StatusNotFound, send(t, http.MethodHead, srv.URL()+"/other/missing.jar").status)

	// Through the AWS SDK: the missing object is access denied, never not found.
	store := storeFromEnv(t, srv)
	_, err := store.Stat(t.Context(), descriptor.S3Location{Bucket: "bkt", Key: "missing.jar"})
	require.ErrorIs(t, err, artifacts.ErrAccessDenied)
	assert.NotErrorIs(t, err, artifacts.ErrNotFound)
	_, err = store.Stat(t.Context(), descriptor.S3Location{Bucket: "bkt", Key: "app.jar"})
	require.NoError(t, err)
}

func TestDenyRefusesMeaninglessDenials(t *testing.T) {
	srv := start(t, s3local.Options{})
	assert.Panics(t, func() { srv.Deny(s3local.Denial{Action: s3local.ActionGetObject}) }, "no bucket")
	assert.Panics(t, func() { srv.Deny(s3local.Denial{Bucket: "bkt", Key: "k", Action: s3local.ActionListBucket}) }, "a key with a bucket action")
}

func TestDenyEveryAction(t *testing.T) {
	srv := withObjects(t, "bkt", "app.jar")
	srv.Deny(s3local.Denial{Bucket: "bkt"})
	assert.Equal(t, http.StatusForbidden, send(t, http.MethodGet, srv.URL()+"/bkt/app.jar").status)
	assert.Equal(t, http.StatusForbidden, send(t, http.MethodGet, srv.URL()+"/bkt").status)
	assert.Error(t, srv.Put(t.Context(), "bkt", "new.jar", strings.NewReader("x"), 1))
	assert.Equal(t, http.StatusOK, send(t, http.MethodGet, srv.URL()+"/").status, "ListAllMyBuckets is not about bucket b")
}
