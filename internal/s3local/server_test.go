package s3local_test

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
)

func TestStartListensOnLoopbackOnly(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		wantErr string
	}{
		{name: "no address means a free port on 127.0.0.1", addr: ""},
		{name: "127.0.0.1 with a free port is accepted", addr: "127.0.0.1:0"},
		{name: "localhost means 127.0.0.1", addr: "localhost:0"},
		{name: "all interfaces are refused", addr: "0.0.0.0:0", wantErr: "127.0.0.1 only"},
		{name: "an empty host (all interfaces) is refused", addr: ":0", wantErr: "127.0.0.1 only"},
		{name: "a network address is refused", addr: "192.0.2.10:9000", wantErr: "127.0.0.1 only"},
		{name: "IPv6 loopback is refused: 127.0.0.1 only", addr: "[::1]:0", wantErr: "127.0.0.1 only"},
		{name: "an address without a port is refused", addr: "127.0.0.1", wantErr: "missing port"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := s3local.Start(t.Context(), s3local.Options{Addr: tt.addr})
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Nil(t, srv)
				return
			}
			require.NoError(t, err)
			defer srv.Close()
			u, err := url.Parse(srv.URL())
			require.NoError(t, err)
			assert.Equal(t, "http", u.Scheme)
			assert.Equal(t, "127.0.0.1", u.Hostname())
			assert.NotEqual(t, "0", u.Port())
		})
	}
}

func TestPutThenReadWithTheAWSSDK(t *testing.T) {
	tests := []struct {
		name string
		key  string
		data []byte
	}{
		{name: "a small file under nested folders", key: "team/app/1.0.0/main.py", data: []byte("print('hi')\n")},
		{name: "an empty object", key: "empty/marker", data: nil},
		{name: "a key with spaces, unicode and a plus sign", key: "odd keys/été+1 (copy).jar", data: []byte("jar bytes")},
	}
	srv := start(t, s3local.Options{Buckets: []string{"artifacts"}})
	store := storeFromEnv(t, srv)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc := descriptor.S3Location{Bucket: "artifacts", Key: tt.key}
			require.NoError(t, srv.Put(t.Context(), loc.Bucket, loc.Key, bytes.NewReader(tt.data), int64(len(tt.data))))

			obj, err := store.Stat(t.Context(), loc)
			require.NoError(t, err)
			assert.Equal(t, int64(len(tt.data)), obj.Size)
			assert.NotEmpty(t, obj.ETag)
			assert.False(t, obj.LastModified.IsZero(), "the upload time is kept")
			assert.Equal(t, string(tt.data), string(read(t, t.Context(), store, loc)))
		})
	}
}

func TestBuckets(t *testing.T) {
	tests := []struct {
		name    string
		buckets []string
		put     string // bucket to put into
		wantErr string
	}{
		{name: "buckets of the options exist at start", buckets: []string{"artifacts", "other-bucket"}, put: "other-bucket"},
		{name: "a put into a bucket that does not exist fails with NoSuchBucket", buckets: []string{"artifacts"}, put: "missing-bucket", wantErr: "NoSuchBucket"},
		{name: "an invalid bucket name fails the start", buckets: []string{"Not_A_Bucket"}, wantErr: "create bucket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := s3local.Start(t.Context(), s3local.Options{Buckets: tt.buckets})
			if tt.put == "" {
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			defer srv.Close()
			err = srv.Put(t.Context(), tt.put, "k.txt", strings.NewReader("x"), 1)
			if tt.wantErr != "" {
				require.ErrorContains(t, err, tt.wantErr)
				assert.Contains(t, err.Error(), "s3://"+tt.put+"/k.txt")
				return
			}
			require.NoError(t, err)
		})
	}

	t.Run("creating a bucket that exists keeps it and its objects", func(t *testing.T) {
		srv := start(t, s3local.Options{Buckets: []string{"artifacts"}})
		require.NoError(t, srv.Put(t.Context(), "artifacts", "k.txt", strings.NewReader("x"), 1))
		require.NoError(t, srv.CreateBucket(t.Context(), "artifacts"))
		store := storeFromEnv(t, srv)
		assert.Equal(t, "x", string(read(t, t.Context(), store, descriptor.S3Location{Bucket: "artifacts", Key: "k.txt"})))
	})
}

func TestDirectory(t *testing.T) {
	t.Run("a temporary directory is removed by Close", func(t *testing.T) {
		srv, err := s3local.Start(t.Context(), s3local.Options{Buckets: []string{"artifacts"}})
		require.NoError(t, err)
		dir := srv.Dir()
		require.DirExists(t, dir)
		require.NoError(t, srv.Close())
		assert.NoDirExists(t, dir)
		assert.NoError(t, srv.Close(), "closing twice is harmless")
	})

	t.Run("a given directory keeps the objects for the next server", func(t *testing.T) {
		dir := t.TempDir()
		first := start(t, s3local.Options{Dir: dir, Buckets: []string{"artifacts"}})
		require.NoError(t, first.Put(t.Context(), "artifacts", "kept/app.jar", strings.NewReader("jar"), 3))
		require.NoError(t, first.Close())
		assert.DirExists(t, dir)

		second := start(t, s3local.Options{Dir: dir, Buckets: []string{"artifacts"}})
		store := storeFromEnv(t, second)
		assert.Equal(t, "jar", string(read(t, t.Context(), store, descriptor.S3Location{Bucket: "artifacts", Key: "kept/app.jar"})))
	})
}

// heapAlloc is the live heap: after a collection, only what something still references.
func heapAlloc() int64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// halfwayHeap measures the heap growth once half of the stream went through it.
type halfwayHeap struct {
	r      io.Reader
	size   int64
	base   int64
	read   int64
	mu     sync.Mutex
	growth int64
	done   bool
}

func (h *halfwayHeap) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.read += int64(n)
	if h.read >= h.size/2 {
		h.mu.Lock()
		if !h.done {
			h.growth, h.done = heapAlloc()-h.base, true
		}
		h.mu.Unlock()
	}
	return n, err
}

func (h *halfwayHeap) result() (int64, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.growth, h.done
}

func TestLargeObjectsLiveOnDiskNotInMemory(t *testing.T) {
	const size = 64 << 20
	stream := func() io.Reader {
		return io.LimitReader(rand.NewChaCha8([32]byte{'s', '3', 'l', 'o', 'c', 'a', 'l'}), size)
	}
	want := sha256.New()
	_, _ = io.Copy(want, stream())

	srv := start(t, s3local.Options{Buckets: []string{"artifacts"}})
	store := storeFromEnv(t, srv)
	loc := descriptor.S3Location{Bucket: "artifacts", Key: "big/spark-app-1.0.jar"}

	// Upload: the server writes to its file as the bytes arrive. gofakes3's memory backend
	// would allocate the whole object before storing it.
	up := &halfwayHeap{r: stream(), size: size, base: heapAlloc()}
	require.NoError(t, srv.Put(t.Context(), loc.Bucket, loc.Key, up, size))
	growth, measured := up.result()
	require.True(t, measured)
	t.Logf("heap growth half-way through the upload: %d bytes", growth)
	assert.Less(t, growth, int64(size/8), "heap growth half-way through a %d-byte upload", size)

	info, err := os.Stat(filepath.Join(srv.Dir(), "buckets", loc.Bucket, filepath.FromSlash(loc.Key)))
	require.NoError(t, err, "the object is a file in the server's directory")
	assert.Equal(t, int64(size), info.Size())

	// Download through the AWS SDK: streamed from the file.
	body, obj, err := store.Open(t.Context(), loc)
	require.NoError(t, err)
	defer body.Close()
	assert.Equal(t, int64(size), obj.Size)
	down := &halfwayHeap{r: body, size: size, base: heapAlloc()}
	got := sha256.New()
	_, err = io.Copy(got, down)
	require.NoError(t, err)
	assert.Equal(t, want.Sum(nil), got.Sum(nil), "the bytes read back are the bytes put")
	growth, measured = down.result()
	require.True(t, measured)
	t.Logf("heap growth half-way through the download: %d bytes", growth)
	assert.Less(t, growth, int64(size/8), "heap growth half-way through a %d-byte download", size)
}

func TestEnvPointsTheWorkerAtTheServer(t *testing.T) {
	srv := start(t, s3local.Options{Buckets: []string{"artifacts"}})
	env := map[string]string{}
	for _, kv := range srv.Env() {
		k, v, ok := strings.Cut(kv, "=")
		require.True(t, ok, kv)
		env[k] = v
	}
	assert.Equal(t, srv.URL(), env["AWS_ENDPOINT_URL_S3"])
	assert.Equal(t, "true", env["S3_USE_PATH_STYLE"])
	assert.Equal(t, s3local.Region, env["AWS_REGION"])
	host, _, err := net.SplitHostPort(strings.TrimPrefix(env["AWS_ENDPOINT_URL_S3"], "http://"))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)

	_, err = storeFromEnv(t, srv).Stat(t.Context(), descriptor.S3Location{Bucket: "artifacts", Key: "absent"})
	assert.ErrorIs(t, err, artifacts.ErrNotFound, "the store reaches the server and gets an S3 answer")
}
