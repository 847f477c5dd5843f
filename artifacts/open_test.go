package artifacts_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
)

// pseudoRandom is a deterministic stream of incompressible bytes: the same seed gives the
// same object, so the test can hash it once and seed it without holding a copy.
func pseudoRandom(size int64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{'a', 'r', 't', 'i', 'f', 'a', 'c', 't', 's'}), size)
}

func hashOf(r io.Reader) []byte {
	h := sha256.New()
	_, _ = io.Copy(h, r)
	return h.Sum(nil)
}

func heapAlloc() int64 {
	runtime.GC() // what is left is what something still references
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

func TestOpenStreamsALargeObjectWithBoundedMemory(t *testing.T) {
	const size = 64 << 20
	written := &bytesWritten{}
	fake := newFakeS3(t, written.middleware)
	want := hashOf(pseudoRandom(size))
	// The declared SHA-256 makes the SDK validate the body as it streams, so this also
	// checks that response validation does not buffer.
	fake.putStream(t, "big/app.jar", pseudoRandom(size), size, base64.StdEncoding.EncodeToString(want))
	store := newStore(t, fake, artifacts.WithRetryMaxAttempts(1))

	before := heapAlloc()
	body, obj, err := store.Open(t.Context(), loc("big/app.jar"))
	require.NoError(t, err)
	defer body.Close()
	assert.Equal(t, int64(size), obj.Size)

	// Open returned with the body still on the server's side: what was sent is bounded by
	// the socket buffers, far below the object's size. A Store reading the object into
	// memory before returning would have received all of it.
	sentAtOpen := written.get()
	assert.Less(t, sentAtOpen, int64(size/2), "bytes the server had sent when Open returned")

	h := sha256.New()
	_, err = io.CopyN(h, body, size/2)
	require.NoError(t, err)
	// Half-way, the heap holds no copy of the object: only transport and hashing buffers.
	growth := heapAlloc() - before
	t.Logf("the server had sent %d bytes when Open returned; the heap grew by %d bytes half-way", sentAtOpen, growth)
	assert.Less(t, growth, int64(size/8), "heap growth half-way through a %d-byte object", size)

	_, err = io.Copy(h, body)
	require.NoError(t, err)
	assert.Equal(t, want, h.Sum(nil), "the bytes read are the object's bytes")
}

func TestOpenIfMatch(t *testing.T) {
	v1 := []byte("version 1 of the application file")
	v2 := []byte("version 2, uploaded after the validation")

	// enforceIfMatch answers 412 to a GET or HEAD whose If-Match is not the current ETag,
	// as S3 and MinIO do; gofakes3 v1.2.0 honours If-Match only on PUT.
	enforceIfMatch := func(f **fakeS3) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if want := r.Header.Get("If-Match"); want != "" {
					bucket, key := bucketKey(r)
					obj, err := (*f).backend.HeadObject(bucket, key)
					if err == nil && want != `"`+hexString(obj.Hash)+`"` {
						s3Error(w, r, http.StatusPreconditionFailed, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", nil)
						return
					}
				}
				next.ServeHTTP(w, r)
			})
		}
	}

	tests := []struct {
		name          string
		enforce       bool // the store honours If-Match itself
		overwrite     bool // the object changes between Stat and OpenIfMatch
		wantChanged   bool
		wantStatus412 bool
	}{
		{name: "pinned read of an unchanged object returns its bytes", enforce: true},
		{name: "pinned read of an unchanged object on a store ignoring If-Match returns its bytes"},
		{name: "object changed meanwhile on a store honouring If-Match is ErrChanged (412)", enforce: true, overwrite: true, wantChanged: true, wantStatus412: true},
		{name: "object changed meanwhile on a store ignoring If-Match is still ErrChanged", overwrite: true, wantChanged: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fake *fakeS3
			var mw []func(http.Handler) http.Handler
			if tt.enforce {
				mw = append(mw, enforceIfMatch(&fake))
			}
			fake = newFakeS3(t, mw...)
			l := fake.put(t, "app/main.py", v1)
			store := newStore(t, fake, artifacts.WithRetryMaxAttempts(1))

			stat, err := store.Stat(t.Context(), l)
			require.NoError(t, err)
			if tt.overwrite {
				fake.put(t, "app/main.py", v2)
			}

			body, obj, err := store.OpenIfMatch(t.Context(), l, stat.ETag)
			if !tt.wantChanged {
				require.NoError(t, err)
				assert.Equal(t, stat.ETag, obj.ETag)
				assert.Equal(t, v1, readAll(t, body))
				return
			}
			require.ErrorIs(t, err, artifacts.ErrChanged)
			assert.Nil(t, body)
			assert.False(t, artifacts.IsTransient(err), "repeating the pinned read cannot succeed: stat again")
			assert.Contains(t, err.Error(), l.String())
			e, ok := errors.AsType[*artifacts.Error](err)
			require.True(t, ok)
			if tt.wantStatus412 {
				assert.Equal(t, http.StatusPreconditionFailed, e.Status)
			}
		})
	}

	t.Run("an empty ETag is refused rather than read unpinned", func(t *testing.T) {
		fake := newFakeS3(t)
		l := fake.put(t, "app/main.py", v1)
		store := newStore(t, fake)
		_, _, err := store.OpenIfMatch(t.Context(), l, "")
		require.Error(t, err)
		assert.False(t, artifacts.IsTransient(err))
	})
}

func TestOpenBodyErrors(t *testing.T) {
	const partial = 64 << 10
	// hang sends the first `partial` bytes of a larger body, then waits for the client to go.
	// cut sends half of the declared length and ends the connection.
	faults := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch _, key := bucketKey(r); key {
			case "hang.jar":
				w.Header().Set("Content-Length", strconv.Itoa(4*partial))
				w.Header().Set("ETag", `"hang"`)
				_, _ = w.Write(make([]byte, partial))
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			case "cut.jar":
				w.Header().Set("Content-Length", strconv.Itoa(2*partial))
				_, _ = w.Write(make([]byte, partial))
			default:
				next.ServeHTTP(w, r)
			}
		})
	}

	tests := []struct {
		name          string
		key           string
		cancelAfter   int // cancel the context once this many bytes were read; 0: never
		wantIs        error
		wantTransient bool
	}{
		{name: "canceling the context mid-stream fails the read, not for a retry", key: "hang.jar", cancelAfter: partial, wantIs: context.Canceled},
		{name: "a body cut short is a transient read error", key: "cut.jar", wantIs: io.ErrUnexpectedEOF, wantTransient: true},
		{name: "bytes not matching the stored checksum are a transient read error", key: "corrupt.jar", wantTransient: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeS3(t, faults)
			// corrupt.jar declares the checksum of other bytes: the SDK's response validation
			// must notice at the end of the stream.
			other := sha256.Sum256([]byte("other bytes"))
			fake.putStream(t, "corrupt.jar", bytes.NewReader(make([]byte, partial)), partial, base64.StdEncoding.EncodeToString(other[:]))
			store := newStore(t, fake, artifacts.WithRetryMaxAttempts(1))

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			body, _, err := store.Open(ctx, loc(tt.key))
			require.NoError(t, err, "the answer starts well")
			defer body.Close()
			if tt.cancelAfter > 0 {
				_, err := io.CopyN(io.Discard, body, int64(tt.cancelAfter))
				require.NoError(t, err)
				cancel()
			}

			_, err = io.Copy(io.Discard, body)
			require.Error(t, err)
			if tt.wantIs != nil {
				assert.ErrorIs(t, err, tt.wantIs)
			}
			t.Logf("read error: %v", err)
			assert.Equal(t, tt.wantTransient, artifacts.IsTransient(err), "IsTransient(%v)", err)
			e, ok := errors.AsType[*artifacts.Error](err)
			require.True(t, ok, "an *artifacts.Error: %v", err)
			assert.Equal(t, "read", e.Op)
			assert.Equal(t, loc(tt.key), e.Location)
		})
	}
}
