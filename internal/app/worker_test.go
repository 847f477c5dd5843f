package app

import (
	"context"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

// workerEnv reads a WorkerConfig from env plus the required credentials.
func workerEnv(t *testing.T, env map[string]string) (WorkerConfig, error) {
	t.Helper()
	vars := map[string]string{
		"CDP_ACCESS_KEY_ID": cdesim.DemoAccessKeyID, "CDP_PRIVATE_KEY": cdesim.DemoPrivateKey,
		"CDP_DEPLOY_ROLE_USER": cdesim.DemoUser, "CDP_DEPLOY_ROLE_PASSWORD": cdesim.DemoPassword,
	}
	for k, v := range env {
		vars[k] = v
	}
	var cfg struct{ Worker WorkerConfig }
	err := envconfig.ProcessWith(context.Background(), &envconfig.Config{Target: &cfg, Lookuper: envconfig.MapLookuper(vars)})
	return cfg.Worker, err
}

func TestLookupCacheTTLComesFromTheEnvironment(t *testing.T) {
	cfg, err := workerEnv(t, nil)
	require.NoError(t, err)
	assert.Equal(t, 30*time.Second, cfg.LookupCacheTTL, "default")
	require.NoError(t, checkWorkerConfig(cfg))

	cfg, err = workerEnv(t, map[string]string{"CDP_LOOKUP_CACHE_TTL": "2m"})
	require.NoError(t, err)
	assert.Equal(t, 2*time.Minute, cfg.LookupCacheTTL)

	cfg, err = workerEnv(t, map[string]string{"CDP_LOOKUP_CACHE_TTL": "0"})
	require.NoError(t, err)
	assert.Zero(t, cfg.LookupCacheTTL)
	require.NoError(t, checkWorkerConfig(cfg), "0 switches the cache off")

	_, err = workerEnv(t, map[string]string{"CDP_LOOKUP_CACHE_TTL": "soon"})
	require.Error(t, err, "not a duration")
	assert.Contains(t, err.Error(), "LookupCacheTTL")
}

// A negative TTL would keep nothing without saying so: the worker refuses to start with it.
func TestANegativeLookupCacheTTLIsRefusedAtStartUp(t *testing.T) {
	cfg, err := workerEnv(t, map[string]string{"CDP_LOOKUP_CACHE_TTL": "-5s"})
	require.NoError(t, err)
	err = checkWorkerConfig(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CDP_LOOKUP_CACHE_TTL=-5s")

	// NewActivitiesWith, which the worker builds first, refuses it before building any client.
	cfg.S3 = artifacts.Config{UsePathStyle: true}
	_, err = NewActivitiesWith(context.Background(), cfg, nil, nil,
		artifacts.WithEndpoint("http://127.0.0.1:1"), artifacts.WithRegion("us-east-1"), artifacts.WithStaticCredentials("k", "s", ""))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CDP_LOOKUP_CACHE_TTL")
}

func TestNewActivitiesKeepsLookupsForTheTTL(t *testing.T) {
	cfg, err := workerEnv(t, map[string]string{"CDP_LOOKUP_CACHE_TTL": "45s"})
	require.NoError(t, err)
	acts, err := NewActivitiesWith(context.Background(), cfg, nil, nil,
		artifacts.WithEndpoint("http://127.0.0.1:1"), artifacts.WithRegion("us-east-1"), artifacts.WithStaticCredentials("k", "s", ""))
	require.NoError(t, err)
	require.NotNil(t, acts.Lookups)
	assert.Equal(t, 45*time.Second, acts.Lookups.TTL)
}

func TestTheArtifactAllowlistComesFromTheEnvironment(t *testing.T) {
	cfg, err := workerEnv(t, nil)
	require.NoError(t, err)
	require.Len(t, cfg.Warnings(), 1, "unset: no restriction, and a warning")
	assert.Contains(t, cfg.Warnings()[0], "S3_ALLOWED_PREFIXES is not set")

	cfg, err = workerEnv(t, map[string]string{"S3_ALLOWED_PREFIXES": "s3://artifacts/{domain}/{dataProduct}/"})
	require.NoError(t, err)
	assert.Empty(t, cfg.Warnings())
	acts, err := NewActivitiesWith(context.Background(), cfg, nil, nil,
		artifacts.WithEndpoint("http://127.0.0.1:1"), artifacts.WithRegion("us-east-1"), artifacts.WithStaticCredentials("k", "s", ""))
	require.NoError(t, err)
	assert.Equal(t, "s3://artifacts/{domain}/{dataProduct}/", acts.Allowed.String())

	// A typo is refused at start-up, naming the variable: it must not allow nothing, or all.
	cfg, err = workerEnv(t, map[string]string{"S3_ALLOWED_PREFIXES": "s3://artifacts/{team}/"})
	require.NoError(t, err)
	_, err = NewActivitiesWith(context.Background(), cfg, nil, nil,
		artifacts.WithEndpoint("http://127.0.0.1:1"), artifacts.WithRegion("us-east-1"), artifacts.WithStaticCredentials("k", "s", ""))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "S3_ALLOWED_PREFIXES")
	assert.Contains(t, err.Error(), "{team}")
}

func TestDriftSettings(t *testing.T) {
	cfg, err := workerEnv(t, nil)
	require.NoError(t, err)
	assert.Equal(t, time.Hour, cfg.DriftCheckInterval)
	assert.False(t, cfg.DriftRepair)
	for value, refused := range map[string]string{"0": "", "1m": "", "24h": "", "30s": "shorter than a minute", "-1h": "must not be negative"} {
		cfg, err := workerEnv(t, map[string]string{"DRIFT_CHECK_INTERVAL": value, "DRIFT_REPAIR": "true"})
		require.NoError(t, err)
		assert.True(t, cfg.DriftRepair)
		err = checkWorkerConfig(cfg)
		if refused == "" {
			assert.NoError(t, err, value)
			continue
		}
		require.Error(t, err, value)
		assert.Contains(t, err.Error(), "DRIFT_CHECK_INTERVAL="+value)
		assert.Contains(t, err.Error(), refused)
	}
}

func TestDriftIntervalAgainstRetention(t *testing.T) {
	day := 24 * time.Hour
	assert.Empty(t, retentionWarning(time.Hour, day))
	assert.Empty(t, retentionWarning(12*time.Hour, day), "half the retention")
	assert.Empty(t, retentionWarning(time.Hour, 0), "retention unknown")
	w := retentionWarning(13*time.Hour, day)
	assert.Contains(t, w, "DRIFT_CHECK_INTERVAL=13h0m0s is more than half the namespace's history retention (24h0m0s)")
}
