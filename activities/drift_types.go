package activities

import "time"

// Drift detection compares each provisioned component's job in CDE with its desired state: the
// job as the last provision sent it (DesiredStatePath) and the files as the last sync left them
// (the upload manifest), both kept in the job's manifest resource, so that they live exactly as
// long as the job, whatever Temporal's history retention.

// DriftComponent is a component whose last operation was a completed provision: what the drift
// check compares, and where.
type DriftComponent struct {
	ComponentID string `json:"componentId"`
	Environment string `json:"environment"`
	Service     string `json:"cdeService"`
	Cluster     string `json:"cdeCluster"`
	JobName     string `json:"jobName"`
	// ProvisionedAt is when that provision completed.
	ProvisionedAt time.Time `json:"provisionedAt"`
}

// Key identifies a component in an environment (its provisions' workflow id).
func (c DriftComponent) Key() string { return c.Environment + "\x00" + c.ComponentID }

// CheckDriftInput asks CheckDrift to compare one component, and to re-apply its desired state
// when Repair is set and it drifted.
type CheckDriftInput struct {
	Component DriftComponent `json:"component"`
	Repair    bool           `json:"repair,omitempty"`
}

// DriftDifference is one way a deployed job differs from its desired state. Field is a job field
// as the change logs name it (spark.driverMemory, spark.conf.<key>, schedule.cronExpression), or
// "job", "resource <name>", "file <resource>/<path>", "cdeService", "cdeCluster" for what is
// missing. Values of secret-looking conf keys are masked ("(masked)").
type DriftDifference struct {
	Field    string `json:"field"`
	Expected string `json:"expected"`
	Actual   string `json:"actual"`
}

// DriftReport is the outcome of the check of one component.
type DriftReport struct {
	ComponentID string            `json:"componentId"`
	Environment string            `json:"environment"`
	JobName     string            `json:"jobName"`
	CheckedAt   time.Time         `json:"checkedAt"`
	Differences []DriftDifference `json:"differences"`
	// Note says why a component could not be compared (no desired state recorded, for a job
	// provisioned before the provisioner recorded it); it is not a drift.
	Note string `json:"note,omitempty"`
	// Repaired lists what a repair re-applied (DRIFT_REPAIR), empty when nothing was.
	Repaired []string `json:"repaired,omitempty"`
}

// Drifted says whether the check found differences.
func (r DriftReport) Drifted() bool { return len(r.Differences) > 0 }
