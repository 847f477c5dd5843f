package descriptor

import "strconv"

// Descriptor is the decoded COMPONENT_DESCRIPTOR: the data product fields the provisioner needs
// and the component to provision. It is plain data (JSON-serialisable), so workflows can carry it.
type Descriptor struct {
	DataProduct DataProduct `json:"dataProduct"`
	// ComponentID is componentIdToProvision.
	ComponentID string `json:"componentIdToProvision"`
	// ComponentIndex is the position of the component in dataProduct.components; it builds the
	// field paths of problems.
	ComponentIndex int      `json:"componentIndex"`
	Component      Workload `json:"component"`

	// pos is where each decoded field was in the YAML, by full dot path; empty for a descriptor
	// that came from JSON (it only enriches problems with line and column).
	pos map[string]position
}

// DataProduct holds the fields of dataProduct that the provisioner uses.
type DataProduct struct {
	ID          string `json:"id"`
	Name        string `json:"name,omitempty"`
	Domain      string `json:"domain,omitempty"`
	Environment string `json:"environment"`
	Version     string `json:"version,omitempty"`
	Owner       string `json:"dataProductOwner,omitempty"`
	DevGroup    string `json:"devGroup,omitempty"`
	OwnerGroup  string `json:"ownerGroup,omitempty"`
}

// Workload is the component to provision (kind workload).
type Workload struct {
	ID          string   `json:"id"`
	Name        string   `json:"name,omitempty"`
	Description string   `json:"description,omitempty"`
	Version     string   `json:"version,omitempty"`
	Specific    Specific `json:"specific"`
}

// JobKind is the kind of Spark job a specific describes (reference/witboost-api.md 4.3).
type JobKind string

// The three job kinds.
const (
	// SparkJar is a Scala/Java job: jar + className.
	SparkJar JobKind = "spark"
	// PySpark is a Python job: pythonFile + pythonVersion.
	PySpark JobKind = "pyspark"
	// PySparkWithEnv is a Python job with a Python environment built from requirementsFile.
	PySparkWithEnv JobKind = "pyspark-env"
)

// Specific is the workload's `specific`: where the job runs and what it runs.
type Specific struct {
	Kind       JobKind `json:"kind"`
	CDEService string  `json:"cdeService"`
	CDECluster string  `json:"cdeCluster"`
	JobName    string  `json:"jobName"`

	// Spark jar jobs.
	Jar       string `json:"jar,omitempty"`
	ClassName string `json:"className,omitempty"`

	// PySpark jobs.
	PythonFile    string `json:"pythonFile,omitempty"`
	PythonVersion string `json:"pythonVersion,omitempty"`
	// PySpark jobs with a Python environment.
	RequirementsFile string `json:"requirementsFile,omitempty"`
	// PyMirror is the PyPI mirror the Python environment is built from; nil when there is none
	// (pyMirror absent, null or blank: PyPI, as in the reference).
	PyMirror *string `json:"pyMirror,omitempty"`

	// JobConfig is nil when absent or null.
	JobConfig *JobConfig `json:"jobConfig,omitempty"`
}

// JobConfig is the optional tuning of the job. Pointers are nil when the field is absent or null,
// so the provisioner applies the reference defaults only where the user said nothing.
type JobConfig struct {
	Args           []string          `json:"args,omitempty"`
	Dependencies   []string          `json:"dependencies,omitempty"`
	DriverCores    *int              `json:"driverCores,omitempty"`
	DriverMemory   *string           `json:"driverMemory,omitempty"`
	ExecutorCores  *int              `json:"executorCores,omitempty"`
	ExecutorMemory *string           `json:"executorMemory,omitempty"`
	NumExecutors   *int              `json:"numExecutors,omitempty"`
	LogLevel       *string           `json:"logLevel,omitempty"`
	Conf           map[string]string `json:"conf,omitempty"`
	// Schedule is nil when absent or `schedule: null` (the template's way to say "not scheduled").
	Schedule *Schedule `json:"schedule,omitempty"`
}

// Schedule is a cron schedule of the job. All three fields are required when a schedule is given.
type Schedule struct {
	CronExpression string `json:"cronExpression"`
	StartDate      string `json:"startDate"`
	EndDate        string `json:"endDate"`
}

// Path returns the dot path of a field of the component to provision, relative to the component,
// e.g. d.Path("specific.jobConfig.driverMemory") is
// "dataProduct.components[2].specific.jobConfig.driverMemory".
func (d *Descriptor) Path(rel string) string {
	return componentPath(d.ComponentIndex, rel)
}

func componentPath(index int, rel string) string {
	p := "dataProduct.components[" + strconv.Itoa(index) + "]"
	if rel == "" {
		return p
	}
	return p + "." + rel
}

// Field paths of the component, relative to it, for Descriptor.Path.
const (
	FieldSpecific         = "specific"
	FieldCDEService       = "specific.cdeService"
	FieldCDECluster       = "specific.cdeCluster"
	FieldJobName          = "specific.jobName"
	FieldJar              = "specific.jar"
	FieldClassName        = "specific.className"
	FieldPythonFile       = "specific.pythonFile"
	FieldPythonVersion    = "specific.pythonVersion"
	FieldRequirementsFile = "specific.requirementsFile"
	FieldPyMirror         = "specific.pyMirror"
	FieldJobConfig        = "specific.jobConfig"
	FieldDependencies     = "specific.jobConfig.dependencies"
	FieldSchedule         = "specific.jobConfig.schedule"
)
