package descriptor

import "strings"

// Rule is a check with a stable message and a one-sentence solution. The messages of the rules
// that the reference Scala provisioner had are its messages (typos fixed), because they are what
// users and their runbooks know.
type Rule struct {
	Message  string
	Solution string
}

// At returns the rule's problem at the given field path. Details, when given, are appended to
// the message after a colon, so the reference message stays a prefix users can search for.
func (r Rule) At(field string, details ...string) Problem {
	msg := r.Message
	if d := strings.Join(nonEmpty(details), "; "); d != "" {
		msg += ": " + d
	}
	return Problem{Field: field, Message: msg, Solution: r.Solution}
}

func nonEmpty(ss []string) []string {
	out := ss[:0:0]
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// Rules checked by activities against CDP (reference/witboost-api.md 5.1, items 2-7). Report them
// at Descriptor.Path(FieldCDEService) or Descriptor.Path(FieldCDECluster).
var (
	ServiceNotFound = Rule{
		Message:  "CDE Service not found",
		Solution: "Set specific.cdeService to the name of an existing CDE service of the CDP tenant, as shown in the CDE console.",
	}
	ServiceNotRunning = Rule{
		Message:  "CDE Service exists but is not running",
		Solution: "Wait until the CDE service is running (ClusterCreationCompleted) or ask the platform team to repair it, then retry.",
	}
	ServiceRecentlyDeleted = Rule{
		Message:  "CDE Service was recently deleted",
		Solution: "Point specific.cdeService to a running CDE service, or ask the platform team to recreate it.",
	}
	ClusterNotFound = Rule{
		Message:  "CDE Virtual Cluster not found",
		Solution: "Set specific.cdeCluster to the name of an existing virtual cluster of the CDE service.",
	}
	ClusterNotActive = Rule{
		Message:  "CDE Virtual Cluster exists but is not properly activated",
		Solution: "Wait until the virtual cluster is running (AppInstalled) or ask the platform team to repair it, then retry.",
	}
	ClusterRecentlyDeleted = Rule{
		Message:  "CDE Virtual Cluster was recently deleted",
		Solution: "Point specific.cdeCluster to a running virtual cluster, or ask the platform team to recreate it.",
	}
)

// Rules on artifacts. The static part (an s3://bucket/key location with a usable file name) is
// checked by Validate; existence on S3 is checked by an activity with ArtifactNotFound.
var (
	ApplicationFileNotFound = Rule{
		Message:  "Job Source application file not found",
		Solution: "Upload the application file to S3 (your CI does this) or fix its location: it must be an s3://bucket/key of an existing object.",
	}
	DependenciesNotFound = Rule{
		Message:  "Job Source dependencies not found",
		Solution: "Upload every dependency to S3 or fix its location in jobConfig.dependencies: each must be an s3://bucket/key of an existing object.",
	}
	PythonEnvInvalid = Rule{
		Message:  `Invalid Python environment settings: settings must be non empty strings which point to existing files; python requirements must be named as "requirements.txt"`,
		Solution: "Point specific.requirementsFile to an existing s3://bucket/.../requirements.txt and leave pyMirror out or set it to the URL of a PyPI mirror.",
	}
	DuplicateArtifactName = Rule{
		Message:  "Two artifacts of the job have the same file name",
		Solution: "Rename one of the files: the application file and the dependencies are stored side by side in one CDE resource, under their file names.",
	}
)

// Static rules of the job definition (reference/witboost-api.md 5.1-5.2, and the rules the
// reference lacked).
var (
	JobNameInvalid = Rule{
		Message:  "Job name not valid",
		Solution: "", // computed: the expected name depends on the component id and environment
	}
	ClassNameEmpty = Rule{
		Message:  "Spark job class name must be non empty",
		Solution: "Set specific.className to the fully qualified name of the main class, e.g. com.example.MyApp.",
	}
	ClassNameInvalid = Rule{
		Message:  "Spark job class name must be a fully qualified Java class name",
		Solution: "Set specific.className to a name like com.example.MyApp (letters, digits, _ and $, separated by dots).",
	}
	PythonVersionInvalid = Rule{
		Message:  `Python version must be one of "python2", "python3"`,
		Solution: `Set specific.pythonVersion to "python3" (or "python2" for legacy jobs).`,
	}
	DriverCoresInvalid = Rule{
		Message:  "If specified, driver cores must be a positive integer",
		Solution: "Set jobConfig.driverCores to 1 or more, or remove it to use the default of 1.",
	}
	DriverMemoryInvalid = Rule{
		Message:  "If specified, driver memory must be a positive integer followed by 'g' (e.g. 2g)",
		Solution: "Write jobConfig.driverMemory in whole gigabytes such as 2g, or remove it to use the default of 1g.",
	}
	ExecutorCoresInvalid = Rule{
		Message:  "If specified, executor cores must be a positive integer",
		Solution: "Set jobConfig.executorCores to 1 or more, or remove it to use the default of 1.",
	}
	ExecutorMemoryInvalid = Rule{
		Message:  "If specified, executor memory must be a positive integer followed by 'g' (e.g. 2g)",
		Solution: "Write jobConfig.executorMemory in whole gigabytes such as 4g, or remove it to use the default of 1g.",
	}
	NumExecutorsInvalid = Rule{
		Message:  "If specified, num executors must be a positive integer",
		Solution: "Set jobConfig.numExecutors to 1 or more, or remove it to use the default of 1.",
	}
	CronInvalid = Rule{
		Message:  "Invalid cron expression",
		Solution: `Write schedule.cronExpression as five fields "minute hour day-of-month month day-of-week", quoted, e.g. "0 3 * * *" for every day at 03:00.`,
	}
	DateFormatInvalid = Rule{
		Message:  `startDate, endDate have to match the following pattern: "yyyy-MM-ddTHH:mm:ssZ"`,
		Solution: "Write the dates in UTC like 2025-01-31T00:00:00Z.",
	}
	DateOrderInvalid = Rule{
		Message:  "schedule endDate must be after startDate",
		Solution: "Set schedule.endDate later than schedule.startDate.",
	}
	LogLevelInvalid = Rule{
		Message:  "logLevel must be one of Spark's log levels: ALL, DEBUG, ERROR, FATAL, INFO, OFF, TRACE, WARN",
		Solution: "Set jobConfig.logLevel to one of ALL, DEBUG, ERROR, FATAL, INFO, OFF, TRACE, WARN (WARN, not WARNING), or remove it to use INFO.",
	}
	ConfKeyEmpty = Rule{
		Message:  "Spark conf keys must be non empty",
		Solution: "Remove the entry with the empty key from jobConfig.conf or give it the name of a Spark property.",
	}
	ConfKeyReserved = Rule{
		Message:  "Spark conf key reserved by the provisioner",
		Solution: "Remove it from jobConfig.conf: the provisioner sets it on every job (spark.cde.idBrokerHosts from the environment's datalake, spark.cde-spark-provisioner.componentId to record the component that owns the job).",
	}
	ConfValueInvalid = Rule{
		Message:  "Spark conf values must be strings, numbers or booleans",
		Solution: "Give every jobConfig.conf entry a plain value, e.g. spark.sql.shuffle.partitions: \"200\".",
	}
	PyMirrorInvalid = Rule{
		Message:  "pyMirror must be the http(s) URL of a PyPI-compatible package index",
		Solution: "Set specific.pyMirror to a URL like https://pypi.example.com/simple, or remove it to use PyPI.",
	}
)
