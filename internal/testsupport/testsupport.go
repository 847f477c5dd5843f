// Package testsupport holds small helpers shared by the tests of several packages. Only tests
// import it.
package testsupport

import (
	"bytes"
	"context"
	"sync"

	"go.temporal.io/sdk/client"
)

// SyncBuffer collects what concurrent writers (loggers of parallel requests, workers) write.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// HealthyTemporal is a Temporal client whose health check succeeds; any other method panics
// (nil embedded client), so a test using it proves it needs nothing else of Temporal.
type HealthyTemporal struct{ client.Client }

// CheckHealth reports a healthy frontend.
func (HealthyTemporal) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	return &client.CheckHealthResponse{}, nil
}
