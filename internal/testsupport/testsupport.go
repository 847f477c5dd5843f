// Package testsupport holds small helpers shared by the tests of several packages. Only tests
// import it.
package testsupport

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
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

// HealthyTemporal is a Temporal client whose health check succeeds and whose task queues have
// Pollers workers polling; any other method panics (nil embedded client), so a test using it
// proves it needs nothing else of Temporal.
type HealthyTemporal struct {
	client.Client
	Pollers int
}

// DescribeTaskQueue reports Pollers pollers on any task queue.
func (h HealthyTemporal) DescribeTaskQueue(context.Context, string, enumspb.TaskQueueType) (*workflowservice.DescribeTaskQueueResponse, error) {
	out := &workflowservice.DescribeTaskQueueResponse{}
	for i := range h.Pollers {
		out.Pollers = append(out.Pollers, &taskqueuepb.PollerInfo{Identity: fmt.Sprintf("worker-%d", i)})
	}
	return out, nil
}

// CheckHealth reports a healthy frontend.
func (HealthyTemporal) CheckHealth(context.Context, *client.CheckHealthRequest) (*client.CheckHealthResponse, error) {
	return &client.CheckHealthResponse{}, nil
}
