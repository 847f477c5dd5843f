package activities

import "github.com/witboost-community/cde-spark-provisioner/descriptor"

// Plain data exchanged between workflows and activities. Everything here ends up in workflow
// history, so it holds names, ids and URLs, never a credential or file content.

// Target is where a job lives, resolved from the CDP control plane.
type Target struct {
	ServiceName    string `json:"serviceName"`
	ServiceID      string `json:"serviceId"` // the DE service's clusterId
	EnvironmentCRN string `json:"environmentCrn,omitempty"`
	// ClusterFqdn is the DE service's host, where its Knox gateway issues job API tokens.
	ClusterFqdn string `json:"clusterFqdn"`
	ClusterName string `json:"clusterName"`
	VcID        string `json:"vcId"`
	// VcAPIURL is the virtual cluster's jobs API base URL.
	VcAPIURL string `json:"vcApiUrl"`
	// VcUIURL is the virtual cluster's web UI, when CDP reports it.
	VcUIURL string `json:"vcUiUrl,omitempty"`
}

// ResolveInput names the service and virtual cluster of a job, and the descriptor fields they
// came from (so problems point at them).
type ResolveInput struct {
	Service      string `json:"service"`
	Cluster      string `json:"cluster"`
	ServiceField string `json:"serviceField"`
	ClusterField string `json:"clusterField"`
	// JobName, ComponentID and JobField, when set, also check that the job is not another
	// component's (descriptor.ConfOwnerKey), before anything is uploaded into the resources that
	// bear its name. Empty in the inputs of the first releases' runs.
	JobName     string `json:"jobName,omitempty"`
	ComponentID string `json:"componentId,omitempty"`
	JobField    string `json:"jobField,omitempty"`
	// IDBrokerHosts also looks up the idbroker hosts of the service's datalake (the job's conf),
	// beside the owner check, into Resolution.IDBrokerHosts. Provisions of the lean runs set it.
	IDBrokerHosts bool `json:"idBrokerHosts,omitempty"`
	// Fresh describes the service and cluster again even when the worker keeps what describes
	// them (Lookups; their existence and status are asked every time anyway): an unprovision,
	// whose "gone" skips the deletes, relies on nothing kept.
	Fresh bool `json:"fresh,omitempty"`
}

// Resolution is the outcome of looking up the service and virtual cluster. Problems holds the
// reference's six messages when either is missing or not running; Target is usable only when
// there are no problems.
type Resolution struct {
	Target   Target              `json:"target"`
	Problems descriptor.Problems `json:"problems,omitempty"`
	// Ambiguous is set when the service name designates live services in several CDP
	// environments (Problems then holds ServiceAmbiguous). Unlike the six "missing or not
	// running" problems, it does not say the job is gone: an unprovision must refuse it (400)
	// rather than answer "Unprovision skipped".
	Ambiguous bool `json:"ambiguous,omitempty"`
	// IDBrokerHosts are the datalake's idbroker hosts when ResolveInput.IDBrokerHosts asked for
	// them (none: the lookup is off, or the datalake has none).
	IDBrokerHosts []string `json:"idBrokerHosts,omitempty"`
	// Found is what the check found instead of a running service or virtual cluster, the one
	// that Problems is about: FoundAbsent, or its status as CDP answered it (deleted ones
	// included). Empty when both run, or for another problem.
	Found string `json:"found,omitempty"`
}

// FoundAbsent is Resolution.Found for a service or virtual cluster that does not exist.
const FoundAbsent = "absent"

// ArtifactsCheck is the outcome of checking that a job's artifacts exist on S3.
type ArtifactsCheck struct {
	Problems descriptor.Problems `json:"problems,omitempty"`
	Objects  []ArtifactObject    `json:"objects,omitempty"`
}

// ArtifactObject is an artifact as found on S3.
type ArtifactObject struct {
	Artifact descriptor.Artifact `json:"artifact"`
	Size     int64               `json:"size"`
	ETag     string              `json:"etag,omitempty"`
}

// ResourceInput identifies a CDE resource of a virtual cluster.
type ResourceInput struct {
	Target Target `json:"target"`
	Name   string `json:"name"`
	// Type is files or python-env.
	Type string `json:"type"`
	// PythonVersion and PyMirror are set for python-env resources.
	PythonVersion string `json:"pythonVersion,omitempty"`
	PyMirror      string `json:"pyMirror,omitempty"`
}

// EnsureResult says what SyncFiles did to a resource before its files: created it, or replaced it.
type EnsureResult struct {
	Created bool `json:"created"`
	// Recreated: a python-env built for another Python version was replaced.
	Recreated bool `json:"recreated,omitempty"`
}

// ResourceState is a resource's status (ready, pending-build, building, failed).
type ResourceState struct {
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// UploadInput is one file to stream from S3 into a CDE resource (see SyncFiles).
type UploadInput struct {
	Target   Target         `json:"target"`
	Resource string         `json:"resource"`
	Object   ArtifactObject `json:"object"`
}

// JobInput is the job to create or update, as the descriptor defines it.
type JobInput struct {
	Target        Target              `json:"target"`
	Specific      descriptor.Specific `json:"specific"`
	IDBrokerHosts []string            `json:"idBrokerHosts,omitempty"`
	// ComponentID owns the job: recorded in its conf (descriptor.ConfOwnerKey), and a job another
	// component owns is never changed. Empty in the inputs of the first releases' runs.
	ComponentID string `json:"componentId,omitempty"`
	// JobField is the job name's field in the descriptor, for the problem of a collision.
	JobField string `json:"jobField,omitempty"`
	// PythonEnvResource is the python-env the job uses (PlanPythonEnv); empty: the first slot.
	PythonEnvResource string `json:"pythonEnvResource,omitempty"`
	// Manifest, when set, is recorded beside the upsert (RecordManifest), saving the activity
	// and workflow task of its own that the runs before the lean runs spent on it.
	Manifest *SyncInput `json:"manifest,omitempty"`
	// JobAbsent says the job was absent when SyncFiles checked its owner: the upsert creates it
	// first instead of reading it first (a 409 falls back to the read).
	JobAbsent bool `json:"jobAbsent,omitempty"`
}

// JobInfo is the job as CDE holds it after an upsert.
type JobInfo struct {
	Name      string   `json:"name"`
	Created   bool     `json:"created"` // false when an existing job was updated
	Type      string   `json:"type,omitempty"`
	File      string   `json:"file,omitempty"`
	Resources []string `json:"resources,omitempty"`
	Schedule  string   `json:"schedule,omitempty"`
	Modified  string   `json:"modified,omitempty"`
	// ManifestWarning says why the manifest of JobInput.Manifest could not be recorded: the job
	// is deployed, only the next provision's skipping of unchanged files is lost.
	ManifestWarning string `json:"manifestWarning,omitempty"`
	// DesiredStateWarning says why the job's desired state (DesiredStatePath) could not be
	// recorded: the job is deployed, only drift detection has nothing (or an older state) to
	// compare it with until the next provision.
	DesiredStateWarning string `json:"desiredStateWarning,omitempty"`
	// Changes are the fields an update changed, old → new, secrets masked (JobChanges); none for
	// a job created, or one already up to date.
	Changes []JobFieldChange `json:"changes,omitempty"`
	// Compared says Changes was computed: a worker of a release before the change logs leaves it
	// unset, and its run must not claim the job was already up to date.
	Compared bool `json:"compared,omitempty"`
}

// DeleteInput names something to delete in a virtual cluster.
type DeleteInput struct {
	Target Target `json:"target"`
	Name   string `json:"name"`
	// ComponentID, for a job, is the component deleting it: a job another component owns is not
	// deleted. Empty in the inputs of the first releases' runs (no check).
	ComponentID string `json:"componentId,omitempty"`
}

// DeleteResult says whether there was something to delete.
type DeleteResult struct {
	Deleted bool `json:"deleted"` // false when it was already gone
}
