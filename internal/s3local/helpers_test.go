package s3local_test

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
	"github.com/witboost-community/cde-spark-provisioner/internal/s3local"
)

func start(t *testing.T, opts s3local.Options) *s3local.Server {
	t.Helper()
	srv, err := s3local.Start(t.Context(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, srv.Close()) })
	return srv
}

// storeFromEnv builds the artifact store the way the worker does, from nothing but the
// environment the server gives (plus an isolated AWS configuration).
func storeFromEnv(t *testing.T, srv *s3local.Server) *artifacts.Store {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	for _, v := range []string{"AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_CA_BUNDLE", "AWS_DEFAULT_REGION"} {
		t.Setenv(v, "")
	}
	cfg := artifacts.Config{}
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		if k == "S3_USE_PATH_STYLE" {
			cfg.UsePathStyle = v == "true"
			continue
		}
		t.Setenv(k, v)
	}
	require.True(t, cfg.UsePathStyle, "Env asks for path-style addressing")
	store, err := artifacts.New(t.Context(), cfg)
	require.NoError(t, err)
	return store
}

func read(t *testing.T, ctx context.Context, store *artifacts.Store, loc descriptor.S3Location) []byte {
	t.Helper()
	body, _, err := store.Open(ctx, loc)
	require.NoError(t, err)
	defer body.Close()
	data, err := io.ReadAll(body)
	require.NoError(t, err)
	return data
}
