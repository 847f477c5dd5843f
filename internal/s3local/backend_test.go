package s3local

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// failingReader yields n bytes, then fails as a connection cut mid-upload does.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	k := min(len(p), f.n)
	clear(p[:k])
	f.n -= k
	return k, nil
}

func TestFileBackendLeavesNoPartialObject(t *testing.T) {
	star := "*"
	tests := []struct {
		name       string
		existing   string // content of the object before the upload; "" for none
		input      io.Reader
		conditions *gofakes3.PutConditions
		wantErr    bool
		want       string // content afterwards; "" means the object does not exist
	}{
		{name: "a complete upload is stored", input: strings.NewReader("0123456789"), want: "0123456789"},
		{name: "an upload cut half-way leaves no object, not a file HEAD answers 500 for", input: &failingReader{n: 5}, wantErr: true},
		{name: "an upload cut half-way over an object removes the truncated file", existing: "old", input: &failingReader{n: 5}, wantErr: true},
		{
			name: "an upload refused before it began keeps the object there", existing: "old",
			input: strings.NewReader("0123456789"), conditions: &gofakes3.PutConditions{IfNoneMatch: &star},
			wantErr: true, want: "old",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := s3afero.MultiBucket(afero.NewBasePathFs(afero.NewOsFs(), t.TempDir()))
			require.NoError(t, err)
			b := fileBackend{files}
			require.NoError(t, b.CreateBucket("artifacts"))
			if tt.existing != "" {
				_, err := b.PutObject("artifacts", "app.jar", map[string]string{}, strings.NewReader(tt.existing), int64(len(tt.existing)), nil)
				require.NoError(t, err)
			}

			_, err = b.PutObject("artifacts", "app.jar", map[string]string{}, tt.input, 10, tt.conditions)
			if tt.wantErr {
				require.Error(t, err)
			} else {
				require.NoError(t, err)
			}

			obj, err := b.HeadObject("artifacts", "app.jar")
			if tt.want == "" {
				var e gofakes3.Error
				require.True(t, errors.As(err, &e), "a not-found error, got %v", err)
				assert.Equal(t, gofakes3.ErrNoSuchKey, e.ErrorCode())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, int64(len(tt.want)), obj.Size)
			got, err := b.GetObject("artifacts", "app.jar", nil)
			require.NoError(t, err)
			defer got.Contents.Close()
			data, err := io.ReadAll(got.Contents)
			require.NoError(t, err)
			assert.Equal(t, tt.want, string(data))
		})
	}
}
