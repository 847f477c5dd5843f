package app

import (
	"context"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

func TestRunTimeoutsShorterThanALegitimateRunAreRefused(t *testing.T) {
	ok := APIConfig{RunTimeout: 6 * time.Hour, ValidateRunTimeout: 30 * time.Minute}
	require.NoError(t, checkRunTimeouts(ok))
	require.NoError(t, checkRunTimeouts(APIConfig{}), "zero stands for the defaults")

	err := checkRunTimeouts(APIConfig{RunTimeout: 2 * time.Hour, ValidateRunTimeout: time.Hour})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "RUN_TIMEOUT=2h0m0s")
	assert.Contains(t, err.Error(), workflows.LongestRun(workflows.OpProvision).String())

	err = checkRunTimeouts(APIConfig{RunTimeout: 6 * time.Hour, ValidateRunTimeout: time.Minute})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "VALIDATE_RUN_TIMEOUT=1m0s")
}

func TestTheDefaultRunTimeoutsAreAboveTheLongestRuns(t *testing.T) {
	var cfg struct{ API APIConfig }
	require.NoError(t, envconfig.ProcessWith(context.Background(), &envconfig.Config{Target: &cfg, Lookuper: envconfig.MapLookuper(nil)}))
	require.NoError(t, checkRunTimeouts(cfg.API))
	assert.Equal(t, 6*time.Hour, cfg.API.RunTimeout)
	assert.Equal(t, 30*time.Minute, cfg.API.ValidateRunTimeout)
}
