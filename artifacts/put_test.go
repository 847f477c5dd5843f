package artifacts_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
)

const putBucket = "imports"

// testPartSize is small so that a multipart upload needs only a few hundred KiB; gofakes3 does
// not enforce S3's 5 MiB minimum.
const testPartSize = 64 << 10

// localS3 is internal/s3local with a Store on it and a raw client to look behind the Store
// (pending multipart uploads).
type localS3 struct {
	store *artifacts.Store
	raw   *s3.Client
}

func startLocalS3(t *testing.T) localS3 {
	t.Helper()
	isolateAWSEnv(t)
	srv, err := s3local.Start(t.Context(), s3local.Options{Buckets: []string{putBucket}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	store, err := artifacts.New(t.Context(), artifacts.Config{UsePathStyle: true},
		artifacts.WithEndpoint(srv.URL()), artifacts.WithStaticCredentials(testAccessKeyID, testSecretKey, ""))
	require.NoError(t, err)
	raw := s3.New(s3.Options{
		Region: artifacts.DefaultRegion, BaseEndpoint: aws.String(srv.URL()), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(testAccessKeyID, testSecretKey, ""),
	})
	return localS3{store: store, raw: raw}
}

func (l localS3) pendingUploads(t *testing.T) int {
	t.Helper()
	out, err := l.raw.ListMultipartUploads(t.Context(), &s3.ListMultipartUploadsInput{Bucket: aws.String(putBucket)})
	if err != nil && strings.Contains(err.Error(), "NoSuchUpload") {
		return 0 // gofakes3's answer for a bucket that has none
	}
	require.NoError(t, err)
	return len(out.Uploads)
}

func (l localS3) content(t *testing.T, at descriptor.S3Location) []byte {
	t.Helper()
	rc, _, err := l.store.Open(t.Context(), at)
	require.NoError(t, err)
	return readAll(t, rc)
}

func putAt(key string) descriptor.S3Location {
	return descriptor.S3Location{Bucket: putBucket, Key: key}
}

// pattern is n deterministic bytes.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

// plainReader hides bytes.Reader's Seek and WriteTo: Put must cope with a bare stream.
type plainReader struct{ r io.Reader }

func (p plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

func TestPutWritesObjectsOfEverySize(t *testing.T) {
	l := startLocalS3(t)
	meta := map[string]string{"cde-resource": "mainres-1", "cde-signature": "6481d428"}
	for _, tt := range []struct {
		name    string
		size    int
		unknown bool
	}{
		{"empty object", 0, false},
		{"small object in one PutObject", 1000, false},
		{"exactly one part in one PutObject", testPartSize, false},
		{"larger than a part, in parts", 3*testPartSize + 123, false},
		{"unknown size within a part", 5000, true},
		{"unknown size of exactly one part", testPartSize, true},
		{"unknown size of several parts", 2*testPartSize + 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := pattern(tt.size)
			key := "copy/" + strings.ReplaceAll(tt.name, " ", "-") + ".jar"
			size := int64(tt.size)
			if tt.unknown {
				size = -1
			}
			obj, err := l.store.Put(t.Context(), putAt(key), plainReader{bytes.NewReader(data)}, size, meta, artifacts.WithPartSize(testPartSize))
			require.NoError(t, err)
			assert.Equal(t, int64(tt.size), obj.Size)
			assert.NotEmpty(t, obj.ETag)

			st, err := l.store.Stat(t.Context(), putAt(key))
			require.NoError(t, err)
			assert.Equal(t, int64(tt.size), st.Size)
			assert.Equal(t, meta, st.Metadata, "user metadata read back by Stat")
			assert.Equal(t, sha256.Sum256(data), sha256.Sum256(l.content(t, putAt(key))))
			assert.Zero(t, l.pendingUploads(t))
		})
	}
}

func TestPutIfAbsentNeverOverwrites(t *testing.T) {
	l := startLocalS3(t)
	theirs := []byte("someone else's object")
	for _, tt := range []struct {
		name string
		size int
	}{
		{"single PutObject: S3's 412", 100},
		{"multipart: refused before it starts", 2*testPartSize + 5},
	} {
		t.Run(tt.name, func(t *testing.T) {
			at := putAt("taken/" + fmt.Sprint(tt.size))
			_, err := l.store.Put(t.Context(), at, bytes.NewReader(theirs), int64(len(theirs)), nil)
			require.NoError(t, err)

			_, err = l.store.Put(t.Context(), at, bytes.NewReader(pattern(tt.size)), int64(tt.size), nil,
				artifacts.IfAbsent(), artifacts.WithPartSize(testPartSize))
			require.ErrorIs(t, err, artifacts.ErrExists)
			assert.NotErrorIs(t, err, artifacts.ErrChanged)
			assert.False(t, artifacts.IsTransient(err))
			assert.Contains(t, err.Error(), at.String())
			assert.Equal(t, theirs, l.content(t, at), "the existing object is untouched")
			assert.Zero(t, l.pendingUploads(t))

			fresh := putAt("fresh/" + fmt.Sprint(tt.size))
			_, err = l.store.Put(t.Context(), fresh, bytes.NewReader(pattern(tt.size)), int64(tt.size), nil,
				artifacts.IfAbsent(), artifacts.WithPartSize(testPartSize))
			require.NoError(t, err, "an absent key is created")
			assert.Equal(t, pattern(tt.size), l.content(t, fresh))
		})
	}
}

// failAfter yields n bytes of pattern, then err.
type failAfter struct {
	r   io.Reader
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, f.err
	}
	return n, err
}

func TestPutThatFailsLeavesNothing(t *testing.T) {
	l := startLocalS3(t)
	// The probe sees a pending upload when there is one.
	pending, err := l.raw.CreateMultipartUpload(t.Context(), &s3.CreateMultipartUploadInput{Bucket: aws.String(putBucket), Key: aws.String("probe")})
	require.NoError(t, err)
	require.Equal(t, 1, l.pendingUploads(t))
	_, err = l.raw.AbortMultipartUpload(t.Context(), &s3.AbortMultipartUploadInput{Bucket: aws.String(putBucket), Key: aws.String("probe"), UploadId: pending.UploadId})
	require.NoError(t, err)
	cut := errors.New("source connection reset")
	for _, tt := range []struct {
		name    string
		body    func() io.Reader
		size    int64
		wantErr error
	}{
		{"read error within the first part", func() io.Reader { return &failAfter{bytes.NewReader(pattern(1000)), cut} }, 5000, cut},
		{"read error after two parts were stored", func() io.Reader {
			return &failAfter{bytes.NewReader(pattern(2*testPartSize + 10)), io.ErrUnexpectedEOF}
		}, 4 * testPartSize, io.ErrUnexpectedEOF},
		{"content shorter than announced", func() io.Reader { return bytes.NewReader(pattern(3 * testPartSize)) }, 4 * testPartSize, nil},
		{"content longer than announced, in one part", func() io.Reader { return bytes.NewReader(pattern(200)) }, 100, nil},
		{"content longer than announced, in parts", func() io.Reader { return bytes.NewReader(pattern(3*testPartSize + 1)) }, 3 * testPartSize, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			at := putAt("failed/" + strings.ReplaceAll(tt.name, " ", "-"))
			_, err := l.store.Put(t.Context(), at, tt.body(), tt.size, nil, artifacts.WithPartSize(testPartSize))
			require.Error(t, err)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			}
			assert.Contains(t, err.Error(), at.String())
			_, err = l.store.Stat(t.Context(), at)
			require.ErrorIs(t, err, artifacts.ErrNotFound, "no object")
			assert.Zero(t, l.pendingUploads(t), "no pending multipart upload")
		})
	}
}

func TestDeleteIsDoneWhenTheObjectIsGone(t *testing.T) {
	l := startLocalS3(t)
	at := putAt("to/delete.jar")
	_, err := l.store.Put(t.Context(), at, strings.NewReader("x"), 1, nil)
	require.NoError(t, err)
	require.NoError(t, l.store.Delete(t.Context(), at))
	_, err = l.store.Stat(t.Context(), at)
	require.ErrorIs(t, err, artifacts.ErrNotFound)
	require.NoError(t, l.store.Delete(t.Context(), at), "an absent object is success")
	err = l.store.Delete(t.Context(), descriptor.S3Location{Bucket: "no-such-bucket", Key: "a"})
	require.ErrorIs(t, err, artifacts.ErrNotFound, "a missing bucket is an error")
}

// discardS3 answers the requests of a multipart upload and throws the bytes away, so that a
// benchmark measures the client's memory, not a store's (gofakes3 keeps parts in memory).
func discardS3(b *testing.B) string {
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		received.Add(n)
		q := r.URL.Query()
		switch {
		case r.Method == http.MethodPost && q.Has("uploads"):
			fmt.Fprint(w, `<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>`)
		case r.Method == http.MethodPut:
			w.Header().Set("ETag", `"etag"`)
		case r.Method == http.MethodPost:
			fmt.Fprint(w, `<CompleteMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><ETag>"etag-2"</ETag></CompleteMultipartUploadResult>`)
		}
	}))
	b.Cleanup(srv.Close)
	return srv.URL
}

// patternStream yields n bytes without holding them.
type patternStream struct{ n int64 }

func (p *patternStream) Read(b []byte) (int, error) {
	if p.n <= 0 {
		return 0, io.EOF
	}
	k := min(int64(len(b)), p.n)
	for i := range b[:k] {
		b[i] = byte(i)
	}
	p.n -= k
	return int(k), nil
}

// BenchmarkPutStreams256MiB: the bytes allocated per op are about one part buffer plus the
// SDK's own, far below the 256 MiB put.
func BenchmarkPutStreams256MiB(b *testing.B) {
	const size = 256 << 20
	for _, v := range []string{"AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"} {
		b.Setenv(v, b.TempDir()+"/none")
	}
	b.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	store, err := artifacts.New(context.Background(), artifacts.Config{UsePathStyle: true},
		artifacts.WithEndpoint(discardS3(b)), artifacts.WithStaticCredentials(testAccessKeyID, testSecretKey, ""))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := store.Put(b.Context(), putAt("big.jar"), &patternStream{n: size}, size, nil); err != nil {
			b.Fatal(err)
		}
	}
}
