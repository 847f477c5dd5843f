package artifacts_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

func TestStat(t *testing.T) {
	data := []byte("print('hello from the artifact store')\n")
	sum := sha256.Sum256(data)

	tests := []struct {
		name         string
		loc          descriptor.S3Location
		want         artifacts.Object // Location, Size, ETag and checksum; LastModified checked apart
		wantNotFound bool
	}{
		{
			name: "existing object reports its size, ETag and stored SHA-256",
			loc:  loc("jobs/main.py"),
			want: artifacts.Object{
				Location: loc("jobs/main.py"), Size: int64(len(data)), ETag: etagOf(data),
				ChecksumSHA256: base64.StdEncoding.EncodeToString(sum[:]),
			},
		},
		{
			name: "object uploaded without a checksum has an empty ChecksumSHA256",
			loc:  loc("jobs/no-checksum.py"),
			want: artifacts.Object{Location: loc("jobs/no-checksum.py"), Size: int64(len(data)), ETag: etagOf(data)},
		},
		{name: "missing key is ErrNotFound", loc: loc("jobs/absent.py"), wantNotFound: true},
		{name: "missing bucket is ErrNotFound", loc: descriptor.S3Location{Bucket: "no-such-bucket", Key: "jobs/main.py"}, wantNotFound: true},
	}

	fake := newFakeS3(t)
	fake.put(t, "jobs/main.py", data)
	fake.putStream(t, "jobs/no-checksum.py", bytesReader(data), int64(len(data)), "")
	store := newStore(t, fake, artifacts.WithRetryMaxAttempts(1))

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, err := store.Stat(t.Context(), tt.loc)
			if tt.wantNotFound {
				require.ErrorIs(t, err, artifacts.ErrNotFound)
				assert.False(t, artifacts.IsTransient(err), "a missing object stays missing")
				assert.Contains(t, err.Error(), tt.loc.String(), "the error names the object")
				assert.Equal(t, artifacts.Object{}, obj)
				return
			}
			require.NoError(t, err)
			assert.WithinDuration(t, time.Now(), obj.LastModified, time.Hour, "LastModified is the upload time")
			obj.LastModified = time.Time{}
			assert.Equal(t, tt.want, obj)
		})
	}
}

func TestStatAllBoundsConcurrencyAndKeepsInputOrder(t *testing.T) {
	tests := []struct {
		name        string
		locations   int
		concurrency int
		wantBound   int // HEAD requests in flight whenever enough locations remain
	}{
		{name: "ten locations with concurrency three keep exactly three HEADs in flight", locations: 10, concurrency: 3, wantBound: 3},
		{name: "concurrency one stats one location at a time", locations: 5, concurrency: 1, wantBound: 1},
		{name: "concurrency above the list length runs every location at once", locations: 4, concurrency: 16, wantBound: 4},
		{name: "concurrency zero means the default bound", locations: 12, concurrency: 0, wantBound: artifacts.DefaultStatConcurrency},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolateAWSEnv(t)
			// In a synctest bubble, synctest.Wait returns once every goroutine is blocked: the
			// Store's workers in a held request or out of work. The count of held requests is
			// then exactly the concurrency the Store uses, with no timing involved. The HTTP
			// exchange goes over in-memory connections (a loopback socket would never count as
			// blocked), to the same gofakes3 handler.
			synctest.Test(t, func(t *testing.T) {
				backend := s3mem.New()
				require.NoError(t, backend.CreateBucket(testBucket))
				var locs []descriptor.S3Location
				for i := range tt.locations {
					key := fmt.Sprintf("deps/lib-%02d.py", i)
					if i%3 != 2 { // every third location is missing, so that order and identity both matter
						_, err := backend.PutObject(testBucket, key, map[string]string{}, bytesReader([]byte(key)), int64(len(key)), nil)
						require.NoError(t, err)
					}
					locs = append(locs, loc(key))
				}
				held := newHeldRequests()
				network := newPipeNetwork()
				srv := &http.Server{Handler: held.middleware(gofakes3.New(backend).Server())}
				go srv.Serve(network)
				client := &http.Client{Transport: &http.Transport{DialContext: network.dial}}
				defer srv.Close()
				defer client.CloseIdleConnections()
				store, err := artifacts.New(t.Context(), artifacts.Config{UsePathStyle: true},
					artifacts.WithEndpoint("http://s3.pipe"), artifacts.WithHTTPClient(client),
					artifacts.WithStaticCredentials(testAccessKeyID, testSecretKey, ""),
					artifacts.WithRetryMaxAttempts(1))
				require.NoError(t, err)

				var results []artifacts.StatResult
				done := make(chan error)
				go func() {
					var err error
					results, err = store.StatAll(t.Context(), locs, tt.concurrency)
					done <- err
				}()
				for served := 0; served < len(locs); {
					synctest.Wait()
					n := held.count()
					require.Equal(t, min(tt.wantBound, len(locs)-served), n,
						"HEAD requests in flight with %d of %d locations answered", served, len(locs))
					held.releaseAll()
					served += n
				}
				require.NoError(t, <-done, "a missing object is a result, not a failure of the check")

				require.Len(t, results, len(locs))
				for i, r := range results {
					assert.Equal(t, locs[i], r.Location, "result %d is for location %d", i, i)
					if i%3 == 2 {
						assert.True(t, r.Missing(), "%s is reported missing", locs[i])
						assert.ErrorIs(t, r.Err, artifacts.ErrNotFound)
					} else {
						require.NoError(t, r.Err)
						assert.False(t, r.Missing())
						assert.Equal(t, locs[i], r.Object.Location)
						assert.Equal(t, int64(len(locs[i].Key)), r.Object.Size)
					}
				}
			})
		})
	}
}

func TestStatAllErrors(t *testing.T) {
	// Keys named by their fault: the middleware answers for them instead of the store.
	faults := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch _, key := bucketKey(r); key {
			case "denied.jar":
				s3Error(w, r, http.StatusForbidden, "AccessDenied", "Access Denied", nil)
			case "busy-1.jar", "busy-2.jar":
				s3Error(w, r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.", nil)
			default:
				next.ServeHTTP(w, r)
			}
		})
	}

	tests := []struct {
		name    string
		keys    []string
		ctx     func(t *testing.T) context.Context
		wantErr func(t *testing.T, err error)
	}{
		{
			name: "the transient failure of the lowest index is surfaced and permanent ones stay in the results",
			keys: []string{"ok.jar", "denied.jar", "busy-2.jar", "missing.jar", "busy-1.jar"},
			wantErr: func(t *testing.T, err error) {
				require.Error(t, err)
				assert.True(t, artifacts.IsTransient(err))
				e, ok := errors.AsType[*artifacts.Error](err)
				require.True(t, ok, "an *artifacts.Error: %v", err)
				assert.Equal(t, loc("busy-2.jar"), e.Location, "the first transient failure in input order")
			},
		},
		{
			name:    "permanent failures alone leave the error nil",
			keys:    []string{"ok.jar", "denied.jar", "missing.jar"},
			wantErr: func(t *testing.T, err error) { require.NoError(t, err) },
		},
		{
			name: "an ended context ends the check with the context's error",
			keys: []string{"ok.jar", "missing.jar"},
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithCancel(t.Context())
				cancel()
				return ctx
			},
			wantErr: func(t *testing.T, err error) {
				require.ErrorIs(t, err, context.Canceled)
				assert.False(t, artifacts.IsTransient(err), "the caller gave up: not for a retry")
			},
		},
		{
			name:    "no location, no request",
			keys:    nil,
			wantErr: func(t *testing.T, err error) { require.NoError(t, err) },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeS3(t, faults)
			fake.put(t, "ok.jar", []byte("jar"))
			store := newStore(t, fake, artifacts.WithRetryMaxAttempts(1))
			ctx := t.Context()
			if tt.ctx != nil {
				ctx = tt.ctx(t)
			}
			var locs []descriptor.S3Location
			for _, k := range tt.keys {
				locs = append(locs, loc(k))
			}

			results, err := store.StatAll(ctx, locs, 2)
			tt.wantErr(t, err)
			require.Len(t, results, len(locs), "one result per location, even on failure")
			for i, r := range results {
				assert.Equal(t, locs[i], r.Location)
				if ctx.Err() != nil {
					assert.ErrorIs(t, r.Err, context.Canceled, "no location is reported as checked")
					continue
				}
				switch r.Location.Key {
				case "ok.jar":
					assert.NoError(t, r.Err)
				case "missing.jar":
					assert.True(t, r.Missing())
				case "denied.jar":
					assert.ErrorIs(t, r.Err, artifacts.ErrAccessDenied)
					assert.False(t, r.Missing())
				default:
					assert.True(t, artifacts.IsTransient(r.Err), "%s: %v", r.Location, r.Err)
				}
			}
		})
	}
}
