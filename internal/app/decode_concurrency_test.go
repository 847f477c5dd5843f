package app

import (
	"context"
	"testing"

	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeConcurrencyComesFromTheEnvironment(t *testing.T) {
	var cfg struct{ API APIConfig }
	require.NoError(t, envconfig.ProcessWith(context.Background(), &envconfig.Config{Target: &cfg, Lookuper: envconfig.MapLookuper(nil)}))
	assert.Equal(t, 0, cfg.API.DecodeConcurrency, "unset: GOMAXPROCS, chosen by api.New")

	require.NoError(t, envconfig.ProcessWith(context.Background(), &envconfig.Config{Target: &cfg,
		Lookuper: envconfig.MapLookuper(map[string]string{"DECODE_CONCURRENCY": "3"})}))
	assert.Equal(t, 3, cfg.API.DecodeConcurrency)
}
