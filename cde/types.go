package cde

import "encoding/json"

// Status values of DE services and virtual clusters (reference 1.5). Other
// values (in progress, failed, undocumented) mean "not ready".
const (
	ServiceStatusRunning = "ClusterCreationCompleted"
	ServiceStatusDeleted = "ClusterDeletionCompleted"
	VcStatusRunning      = "AppInstalled"
	VcStatusDeleted      = "AppDeleted"
	VcStatusInstallFail  = "AppInstallationFailed"
	VcStatusDeletionFail = "AppDeletionFailed"
)

// IDBrokerInstanceGroup is the datalake instance group whose private IPs go
// into spark.cde.idBrokerHosts.
const IDBrokerInstanceGroup = "idbroker"

// Values of the jobs API.
const (
	JobTypeSpark = "spark"

	RetentionKeepIndefinitely = "keep_indefinitely"

	ResourceTypeFiles     = "files"
	ResourceTypePythonEnv = "python-env"

	// Resource statuses: a python-env goes pending-build → building → ready
	// (or failed); a files resource is ready at once.
	ResourceStatusReady        = "ready"
	ResourceStatusPendingBuild = "pending-build"
	ResourceStatusBuilding     = "building"
	ResourceStatusFailed       = "failed"
)

// ---- CDP control plane (reference 1.4, 1.6). Every field is optional on
// decode: absent means the zero value.

// ServiceSummary is an element of listServices.
type ServiceSummary struct {
	Name            string `json:"name"`
	ClusterID       string `json:"clusterId"`
	EnvironmentName string `json:"environmentName"`
	Status          string `json:"status"`
	CreatorEmail    string `json:"creatorEmail,omitempty"`
	EnablingTime    string `json:"enablingTime,omitempty"`
}

// ServiceDescription is the "service" of describeService.
type ServiceDescription struct {
	Name                  string            `json:"name"`
	ClusterID             string            `json:"clusterId"`
	EnvironmentName       string            `json:"environmentName"`
	EnvironmentCrn        string            `json:"environmentCrn,omitempty"`
	TenantID              string            `json:"tenantId,omitempty"`
	Status                string            `json:"status,omitempty"`
	CreatorEmail          string            `json:"creatorEmail,omitempty"`
	CreatorCrn            string            `json:"creatorCrn,omitempty"`
	EnablingTime          string            `json:"enablingTime,omitempty"`
	ClusterFqdn           string            `json:"clusterFqdn,omitempty"`
	CloudPlatform         string            `json:"cloudPlatform,omitempty"`
	Resources             *ServiceResources `json:"resources,omitempty"`
	LogLocation           string            `json:"logLocation,omitempty"`
	PrivateClusterEnabled bool              `json:"privateClusterEnabled,omitempty"`
	PublicEndpointEnabled bool              `json:"publicEndpointEnabled,omitempty"`
}

// ServiceResources are the sizes of a DE service; the API sends them as
// strings with snake_case names.
type ServiceResources struct {
	InstanceType     string `json:"instance_type,omitempty"`
	MinInstances     string `json:"min_instances,omitempty"`
	MaxInstances     string `json:"max_instances,omitempty"`
	InitialInstances string `json:"initial_instances,omitempty"`
	RootVolSize      string `json:"root_vol_size,omitempty"`
	CPURequests      string `json:"cpuRequests,omitempty"`
	MemoryRequests   string `json:"memoryRequests,omitempty"`
	ResourcePool     string `json:"resourcePool,omitempty"`
}

// VcSummary is an element of listVcs.
type VcSummary struct {
	VcID         string `json:"vcId"`
	VcName       string `json:"vcName"`
	ClusterID    string `json:"clusterId"`
	Status       string `json:"status"`
	VcUIURL      string `json:"VcUiUrl,omitempty"` // capital V on the wire
	CreatorEmail string `json:"creatorEmail,omitempty"`
	CreatorName  string `json:"creatorName,omitempty"`
}

// VcDescription is the "vc" of describeVc; VcAPIURL is the base of the jobs API.
type VcDescription struct {
	VcID             string            `json:"vcId"`
	VcName           string            `json:"vcName"`
	ClusterID        string            `json:"clusterId"`
	Status           string            `json:"status,omitempty"`
	VcAPIURL         string            `json:"vcApiUrl,omitempty"`
	VcUIURL          string            `json:"VcUiUrl,omitempty"`
	HistoryServerURL string            `json:"historyServerUrl,omitempty"`
	LivyServerURL    string            `json:"livyServerUrl,omitempty"`
	CreationTime     string            `json:"creationTime,omitempty"`
	SparkVersion     string            `json:"sparkVersion,omitempty"`
	VcTier           string            `json:"vcTier,omitempty"`
	CreatorEmail     string            `json:"creatorEmail,omitempty"`
	CreatorName      string            `json:"creatorName,omitempty"`
	Resources        *VcResources      `json:"resources,omitempty"`
	SparkConfigs     map[string]string `json:"sparkConfigs,omitempty"`
}

// VcResources are the quotas of a virtual cluster (strings on the wire).
type VcResources struct {
	CPURequests          string `json:"cpuRequests,omitempty"`
	MemRequests          string `json:"memRequests,omitempty"`
	ActualCPURequests    string `json:"actualCpuRequests,omitempty"`
	ActualMemoryRequests string `json:"actualMemoryRequests,omitempty"`
}

// ListDatalakesRequest filters listDatalakes; both fields are optional.
type ListDatalakesRequest struct {
	EnvironmentName string `json:"environmentName,omitempty"` // name or CRN
	DatalakeName    string `json:"datalakeName,omitempty"`
}

// Datalake is an element of listDatalakes.
type Datalake struct {
	DatalakeName   string `json:"datalakeName"`
	Crn            string `json:"crn"`
	Status         string `json:"status,omitempty"`
	EnvironmentCrn string `json:"environmentCrn,omitempty"`
	CreationDate   string `json:"creationDate,omitempty"`
	StatusReason   string `json:"statusReason,omitempty"`
}

// DatalakeDetails is the "datalake" of describeDatalake.
type DatalakeDetails struct {
	DatalakeName   string          `json:"datalakeName"`
	Crn            string          `json:"crn"`
	Status         string          `json:"status,omitempty"`
	Shape          string          `json:"shape,omitempty"`
	EnvironmentCrn string          `json:"environmentCrn,omitempty"`
	CloudPlatform  string          `json:"cloudPlatform,omitempty"`
	Region         string          `json:"region,omitempty"`
	InstanceGroups []InstanceGroup `json:"instanceGroups,omitempty"`
}

// InstanceGroup is a named group of datalake hosts.
type InstanceGroup struct {
	Name      string     `json:"name"`
	Instances []Instance `json:"instances"`
}

// Instance is one datalake host.
type Instance struct {
	ID             string `json:"id"`
	State          string `json:"state,omitempty"`
	DiscoveryFQDN  string `json:"discoveryFQDN,omitempty"`
	InstanceStatus string `json:"instanceStatus,omitempty"`
	PrivateIP      string `json:"privateIp,omitempty"`
	PublicIP       string `json:"publicIp,omitempty"`
}

// ---- Knox (reference 2.2)

// knoxTokenResponse is the Knox token answer; managed is a string there.
type knoxTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"` // absolute epoch ms, -1 = no expiry
}

// ---- CDE jobs API (reference 2.4-2.6). Optional scalars use omitempty;
// slices and maps use omitzero so that a nil value is left out while an
// explicitly empty one ([] or {}) is sent, which matters for a PATCH whose
// merge semantics are undocumented.

// Job is a CDE job: the request body of create/update and the answer of get/list.
type Job struct {
	Name            string      `json:"name"`
	Type            string      `json:"type,omitempty"`
	Mounts          []Mount     `json:"mounts,omitzero"`
	RetentionPolicy string      `json:"retentionPolicy,omitempty"`
	Spark           *SparkJob   `json:"spark,omitempty"`
	Airflow         *AirflowJob `json:"airflow,omitempty"`
	Schedule        *Schedule   `json:"schedule,omitempty"`
	Created         string      `json:"created,omitempty"`  // response only
	Modified        string      `json:"modified,omitempty"` // response only
	LastUsed        string      `json:"lastUsed,omitempty"` // response only
	Hidden          *bool       `json:"hidden,omitempty"`
}

// Mount attaches a resource to a job, optionally under a directory prefix.
type Mount struct {
	ResourceName string `json:"resourceName"`
	DirPrefix    string `json:"dirPrefix,omitempty"`
}

// SparkJob is the "spark" object of a job.
type SparkJob struct {
	File                  string            `json:"file,omitempty"`
	ClassName             string            `json:"className,omitempty"`
	Args                  []string          `json:"args,omitzero"`
	Conf                  map[string]string `json:"conf,omitzero"`
	DriverCores           int               `json:"driverCores,omitempty"`
	DriverMemory          string            `json:"driverMemory,omitempty"`
	ExecutorCores         int               `json:"executorCores,omitempty"`
	ExecutorMemory        string            `json:"executorMemory,omitempty"`
	NumExecutors          int               `json:"numExecutors,omitempty"`
	LogLevel              string            `json:"logLevel,omitempty"`
	Jars                  []string          `json:"jars,omitzero"`
	PyFiles               []string          `json:"pyFiles,omitzero"`
	Files                 []string          `json:"files,omitzero"`
	PythonEnvResourceName string            `json:"pythonEnvResourceName,omitempty"`
	ProxyUser             string            `json:"proxyUser,omitempty"`
	Name                  string            `json:"name,omitempty"`
}

// AirflowJob is the "airflow" object of an Airflow job (read only here).
type AirflowJob struct {
	DagID   string `json:"dagID,omitempty"`
	DagFile string `json:"dagFile,omitempty"`
}

// Schedule is a job's schedule. Enabled is always sent (strict decoders
// require it); tri-state flags are pointers.
type Schedule struct {
	Enabled            bool   `json:"enabled"`
	User               string `json:"user,omitempty"`
	CronExpression     string `json:"cronExpression,omitempty"`
	Start              string `json:"start,omitempty"`
	End                string `json:"end,omitempty"`
	Paused             *bool  `json:"paused,omitempty"`
	PausedUponCreation *bool  `json:"pausedUponCreation,omitempty"`
	Catchup            *bool  `json:"catchup,omitempty"`
	DependsOnPast      *bool  `json:"dependsOnPast,omitempty"`
	NextExecution      string `json:"nextExecution,omitempty"` // response only
}

// CreateResourceRequest is the body of POST /resources. PythonEnv is set
// for type python-env only.
type CreateResourceRequest struct {
	Name            string     `json:"name"`
	Type            string     `json:"type"`
	RetentionPolicy string     `json:"retentionPolicy,omitempty"`
	PythonEnv       *PythonEnv `json:"pythonEnv,omitempty"`
}

// PythonEnv describes a python-env resource.
type PythonEnv struct {
	PythonVersion string `json:"pythonVersion,omitempty"` // python3 or python2
	// PyPiMirror is the package index the environment is built from. Its JSON
	// name is the one witboost sends (pythonEnvironment.pyPiMirror); the
	// documented API names no mirror field (reference §2.6, UNCONFIRMED).
	PyPiMirror string `json:"pyPiMirror,omitempty"`
	Type       string `json:"type,omitempty"` // response only
}

// Resource is the answer of GET /resources/{name}.
type Resource struct {
	Name            string         `json:"name"`
	Type            string         `json:"type,omitempty"`
	Status          string         `json:"status,omitempty"`
	Signature       string         `json:"signature,omitempty"`
	Created         string         `json:"created,omitempty"`
	Modified        string         `json:"modified,omitempty"`
	LastUsed        string         `json:"lastUsed,omitempty"`
	RetentionPolicy string         `json:"retentionPolicy,omitempty"`
	Files           []ResourceFile `json:"files,omitzero"`
	PythonEnv       *PythonEnv     `json:"pythonEnv,omitempty"`
	PythonEnvInfo   *PythonEnvInfo `json:"pythonEnvInfo,omitempty"`
}

// ResourceFile is a file stored in a resource.
type ResourceFile struct {
	Path      string `json:"path"`
	Signature string `json:"signature,omitempty"`
	SizeBytes int64  `json:"sizeBytes,omitempty"`
	Created   string `json:"created,omitempty"`
	Modified  string `json:"modified,omitempty"`
}

// UnmarshalJSON also accepts "size" for the file size: the only shape seen
// is the CLI's "sizeBytes", and the API's own name is undocumented.
func (f *ResourceFile) UnmarshalJSON(b []byte) error {
	type plain ResourceFile
	var v struct {
		plain
		Size *int64 `json:"size"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*f = ResourceFile(v.plain)
	if f.SizeBytes == 0 && v.Size != nil {
		f.SizeBytes = *v.Size
	}
	return nil
}

// PythonEnvInfo reports the build of a python-env resource.
type PythonEnvInfo struct {
	StatusReason         string `json:"statusReason,omitempty"`
	SizeMb               int64  `json:"sizeMb,omitempty"`
	BuildDurationSeconds int64  `json:"buildDurationSeconds,omitempty"`
	NumberOfFiles        int64  `json:"numberOfFiles,omitempty"`
	NumberOfPackages     int64  `json:"numberOfPackages,omitempty"`
}

// listJobsResponse is one page of GET /jobs.
type listJobsResponse struct {
	Jobs []Job          `json:"jobs"`
	Meta paginationMeta `json:"meta"`
}

type paginationMeta struct {
	HasNext bool `json:"hasNext"`
	Limit   int  `json:"limit"`
	Offset  int  `json:"offset"`
	Count   int  `json:"count"`
}
