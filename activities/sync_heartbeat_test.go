package activities_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/cde"
)

// SyncFiles heartbeats from its start: while it waits on CDE to ensure its resources (before any
// byte is uploaded), Temporal still hears from it, so a slow CDE is not taken for a dead worker.
func TestSyncHeartbeatsWhileEnsuringItsResources(t *testing.T) {
	f := newSyncFixture(t)
	f.put(t, "hb/app.jar", "application")
	objs := f.objects(t, "hb/app.jar")

	// Every resource creation waits until released: SyncFiles is then in its first step.
	release := f.sim.Block("POST /dex/api/v1/resources")
	defer release()

	var beats atomic.Int32
	heard := make(chan struct{})
	env := activityEnv(t, f.acts)
	env.SetOnActivityHeartbeatListener(func(*activity.Info, converter.EncodedValues) {
		if beats.Add(1) == 1 {
			close(heard)
		}
	})
	in := activities.SyncInput{
		Target: f.target, ManifestResource: syncRes,
		Resources: []activities.ResourceFiles{{Resource: syncRes, Type: cde.ResourceTypeFiles, Objects: objs, Prune: true}},
	}
	done := make(chan error, 1)
	go func() {
		_, err := env.ExecuteActivity(f.acts.SyncFiles, in)
		done <- err
	}()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, f.sim.AwaitBlocked(ctx, 1), "SyncFiles reached the resource creation")
	select {
	case <-heard:
	case err := <-done:
		t.Fatalf("SyncFiles ended (%v) before any heartbeat", err)
	case <-ctx.Done():
		t.Fatal("no heartbeat while the resource creation was held")
	}
	require.Zero(t, uploadedBytes(f), "the heartbeat came before any upload")
	release()
	require.NoError(t, <-done)
	require.Equal(t, []byte("application"), f.stored(t, "app.jar"))
}

// uploadedBytes is what the simulator stored in the sync resource so far.
func uploadedBytes(f *syncFixture) int {
	b, _ := f.sim.FileBytes(f.vcID, syncRes, "app.jar")
	return len(b)
}
