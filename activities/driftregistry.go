package activities

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// The registry of drift detection (workflows.DriftRegistry) and the activities that feed it from
// Temporal's own record of the provisions: which components' last operation was a completed
// provision. These activities talk to Temporal (Activities.Temporal), not to CDE.

// Names the registry is reached by. They repeat workflows' constants, which this package cannot
// import (workflows imports it); a test checks that they agree.
const (
	driftRegistryName   = "cde.DriftRegistry"
	driftUpdateMerge    = "merge"
	driftUpdateRecord   = "record"
	driftQueryState     = "state"
	provisionTypeName   = "cde.Provision"
	unprovisionTypeName = "cde.Unprovision"
)

// DriftRegistryID is the registry's workflow id for the deployment polling taskQueue (the same
// as workflows.DriftRegistryID).
func DriftRegistryID(taskQueue string) string { return "cde-spark-drift/" + taskQueue + "/registry" }

// DriftState is the registry's state: the components to check and their last reports.
type DriftState struct {
	// Since is the close time up to which the provisions and unprovisions are known.
	Since time.Time `json:"since"`
	// Components are the components whose last operation was a completed provision, by Key.
	Components map[string]DriftComponent `json:"components"`
	// Reports are the last reports of the components, by Key.
	Reports map[string]DriftReport `json:"reports"`
}

// DriftDiscovery is what DiscoverDrift learnt from the runs closed since the registry's Since.
type DriftDiscovery struct {
	Until time.Time `json:"until"`
	// Provisioned are the components whose latest run is a completed provision.
	Provisioned []DriftComponent `json:"provisioned,omitempty"`
	// Gone are the Keys of the components whose latest run is anything else: an unprovision, or a
	// provision that failed (its desired state is not what the job may hold).
	Gone []string `json:"gone,omitempty"`
}

// DriftRecord are the reports of one check.
type DriftRecord struct {
	TaskQueue string        `json:"taskQueue"`
	Reports   []DriftReport `json:"reports"`
}

// DriftDiscoverInput names the deployment.
type DriftDiscoverInput struct {
	TaskQueue string `json:"taskQueue"`
}

// Merge applies a discovery (deterministic: workflow code calls it).
func (s *DriftState) Merge(d DriftDiscovery) {
	for _, c := range d.Provisioned {
		if old, ok := s.Components[c.Key()]; ok && old.ProvisionedAt.After(c.ProvisionedAt) {
			continue
		}
		s.Components[c.Key()] = c
	}
	for _, k := range d.Gone {
		delete(s.Components, k)
		delete(s.Reports, k)
	}
	if d.Until.After(s.Since) {
		s.Since = d.Until
	}
}

// Active are the components to check, in a stable order.
func (s DriftState) Active() []DriftComponent {
	out := make([]DriftComponent, 0, len(s.Components))
	// The keys are sorted before use, so the map's order never shows (workflow code calls it).
	keys := slices.Sorted(maps.Keys(s.Components)) //workflowcheck:ignore
	for _, k := range keys {
		out = append(out, s.Components[k])
	}
	return out
}

// Record keeps the reports of components still registered.
func (s *DriftState) Record(r DriftRecord) {
	for _, rep := range r.Reports {
		k := DriftComponent{ComponentID: rep.ComponentID, Environment: rep.Environment}.Key()
		if _, ok := s.Components[k]; ok {
			s.Reports[k] = rep
		}
	}
}

// Drifted are the last reports with differences, by component id and environment.
func (s DriftState) Drifted() []DriftReport {
	var out []DriftReport
	for _, r := range s.Reports {
		if r.Drifted() {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b DriftReport) int {
		return cmp.Or(cmp.Compare(a.ComponentID, b.ComponentID), cmp.Compare(a.Environment, b.Environment))
	})
	return out
}

// discoveryOverlap is how far before the registry's Since the runs are listed again: visibility
// records a closed run a moment after it closed, and a run listed twice changes nothing.
const discoveryOverlap = 5 * time.Minute

// DiscoverDrift lists the provisions and unprovisions of this deployment closed since the
// registry last looked, merges what they say into the registry (starting it if needed), and
// answers the components to check.
func (a *Activities) DiscoverDrift(ctx context.Context, in DriftDiscoverInput) ([]DriftComponent, error) {
	if a.Temporal == nil {
		return nil, temporal.NewNonRetryableApplicationError("the worker has no Temporal client for drift detection", "DriftUnavailable", nil)
	}
	id, err := a.ensureRegistry(ctx, in.TaskQueue)
	if err != nil {
		return nil, err
	}
	var state DriftState
	v, err := a.Temporal.QueryWorkflow(ctx, id, "", driftQueryState)
	if err != nil {
		return nil, fmt.Errorf("query the drift registry: %w", err)
	}
	if err := v.Get(&state); err != nil {
		return nil, fmt.Errorf("read the drift registry: %w", err)
	}
	d, err := a.discover(ctx, in.TaskQueue, state.Since)
	if err != nil {
		return nil, err
	}
	h, err := a.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: driftUpdateMerge,
		Args: []any{d}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		return nil, fmt.Errorf("update the drift registry: %w", err)
	}
	var active []DriftComponent
	if err := h.Get(ctx, &active); err != nil {
		return nil, fmt.Errorf("update the drift registry: %w", err)
	}
	return active, nil
}

// RecordDrift records a check's reports in the registry.
func (a *Activities) RecordDrift(ctx context.Context, in DriftRecord) error {
	if a.Temporal == nil {
		return temporal.NewNonRetryableApplicationError("the worker has no Temporal client for drift detection", "DriftUnavailable", nil)
	}
	id, err := a.ensureRegistry(ctx, in.TaskQueue)
	if err != nil {
		return err
	}
	h, err := a.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: driftUpdateRecord,
		Args: []any{in}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		return fmt.Errorf("update the drift registry: %w", err)
	}
	return h.Get(ctx, nil)
}

// ensureRegistry starts the registry unless it runs, and returns its id.
func (a *Activities) ensureRegistry(ctx context.Context, taskQueue string) (string, error) {
	id := DriftRegistryID(taskQueue)
	_, err := a.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: taskQueue, WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary: "drift detection: the provisioned components and their last reports",
	}, driftRegistryName, DriftState{Components: map[string]DriftComponent{}, Reports: map[string]DriftReport{}})
	if err != nil {
		return "", fmt.Errorf("start the drift registry: %w", err)
	}
	return id, nil
}

// discover lists the provisions and unprovisions of the task queue closed since, keeps each
// component's latest, and reads the target of those that are completed provisions.
func (a *Activities) discover(ctx context.Context, taskQueue string, since time.Time) (DriftDiscovery, error) {
	query := fmt.Sprintf("TaskQueue = '%s' AND WorkflowType IN ('%s', '%s') AND ExecutionStatus != 'Running'",
		escapeQuery(taskQueue), provisionTypeName, unprovisionTypeName)
	if !since.IsZero() {
		query += fmt.Sprintf(" AND CloseTime > '%s'", since.Add(-discoveryOverlap).UTC().Format(time.RFC3339Nano))
	}
	type run struct {
		id, runID, typ string
		status         enumspb.WorkflowExecutionStatus
		closed         time.Time
	}
	latest := map[string]run{} // by workflow id
	until := since
	var token []byte
	for {
		resp, err := a.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token, PageSize: 1000})
		if err != nil {
			return DriftDiscovery{}, fmt.Errorf("list the provisions: %w", err)
		}
		for _, e := range resp.GetExecutions() {
			r := run{id: e.GetExecution().GetWorkflowId(), runID: e.GetExecution().GetRunId(), typ: e.GetType().GetName(),
				status: e.GetStatus(), closed: e.GetCloseTime().AsTime()}
			if prev, ok := latest[r.id]; !ok || r.closed.After(prev.closed) {
				latest[r.id] = r
			}
			if r.closed.After(until) {
				until = r.closed
			}
		}
		if token = resp.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	d := DriftDiscovery{Until: until}
	for _, id := range slices.Sorted(func(yield func(string) bool) {
		for id := range latest {
			if !yield(id) {
				return
			}
		}
	}) {
		r := latest[id]
		c, err := a.componentOf(ctx, r.id, r.runID)
		if err != nil {
			return DriftDiscovery{}, err
		}
		if c == nil {
			continue // not a run of this provisioner's shape
		}
		if r.typ == provisionTypeName && r.status == enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED {
			c.ProvisionedAt = r.closed
			d.Provisioned = append(d.Provisioned, *c)
		} else {
			d.Gone = append(d.Gone, c.Key())
		}
	}
	return d, nil
}

// componentOf reads the component a run was started for, from its first history event.
func (a *Activities) componentOf(ctx context.Context, id, runID string) (*DriftComponent, error) {
	it := a.Temporal.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	if !it.HasNext() {
		return nil, nil
	}
	ev, err := it.Next()
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return nil, nil // gone with the retention since it was listed
	case err != nil:
		return nil, fmt.Errorf("read the history of %s: %w", id, err)
	}
	attrs := ev.GetWorkflowExecutionStartedEventAttributes()
	if attrs == nil {
		return nil, nil
	}
	var in struct {
		Descriptor descriptor.Descriptor `json:"descriptor"`
	}
	if err := converter.GetDefaultDataConverter().FromPayloads(attrs.GetInput(), &in); err != nil {
		return nil, nil // not an input of ours: nothing to compare
	}
	d := in.Descriptor
	s := d.Component.Specific
	if d.ComponentID == "" || s.JobName == "" {
		return nil, nil
	}
	return &DriftComponent{ComponentID: d.ComponentID, Environment: d.DataProduct.Environment,
		Service: s.CDEService, Cluster: s.CDECluster, JobName: s.JobName}, nil
}

// escapeQuery escapes a value for a single-quoted visibility query string.
func escapeQuery(s string) string { return strings.ReplaceAll(s, "'", "\\'") }
