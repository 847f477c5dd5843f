package activities

import (
	"maps"
	"strings"

	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// Defaults applied where the descriptor says nothing: those of the reference provisioner
// (reference/witboost-api.md 4.3), so a job keeps its shape when it moves to this provisioner.
const (
	DefaultCores    = 1
	DefaultMemory   = "1g"
	DefaultLogLevel = "INFO"
)

// Spark properties the provisioner owns. A user's conf may set anything else, and may even set
// dex.safariEnabled, but the idbroker hosts and the Python interpreter come from CDP and the
// descriptor's own fields, so those win over the user's conf.
const (
	ConfSafari        = "dex.safariEnabled"
	ConfIDBrokerHosts = descriptor.ConfIDBrokerHostsKey
	ConfPySpark       = "spark.pyspark.python"
)

// BuildJob maps the descriptor's specific to the CDE job (reference/cde-api.md 2.5): the files of
// the job are mounted from the main resource and referenced by their basenames.
func BuildJob(s descriptor.Specific, idBrokerHosts []string) cde.Job {
	jc := s.JobConfig
	if jc == nil {
		jc = &descriptor.JobConfig{}
	}
	spark := &cde.SparkJob{
		File:           basename(s.AppFile()),
		Args:           nonNil(jc.Args),
		DriverCores:    intOr(jc.DriverCores, DefaultCores),
		DriverMemory:   strOr(jc.DriverMemory, DefaultMemory),
		ExecutorCores:  intOr(jc.ExecutorCores, DefaultCores),
		ExecutorMemory: strOr(jc.ExecutorMemory, DefaultMemory),
		NumExecutors:   intOr(jc.NumExecutors, DefaultCores),
		LogLevel:       strOr(jc.LogLevel, DefaultLogLevel),
	}
	conf := map[string]string{ConfSafari: "true"}
	maps.Copy(conf, jc.Conf)
	if len(idBrokerHosts) > 0 {
		conf[ConfIDBrokerHosts] = strings.Join(idBrokerHosts, ",")
	}
	deps := make([]string, 0, len(jc.Dependencies))
	for _, d := range jc.Dependencies {
		deps = append(deps, basename(d))
	}
	// The kind's part (descriptor.JobShape), mapped field by field: no kind is named here.
	shape := s.JobShape()
	spark.ClassName = shape.ClassName
	if shape.PyFiles {
		spark.PyFiles = deps
	} else {
		spark.Jars = deps
	}
	if shape.PythonVersion != "" {
		conf[ConfPySpark] = shape.PythonVersion
	}
	spark.PythonEnvResourceName = shape.PythonEnvResource
	spark.Conf = conf

	job := cde.Job{
		Name:            s.JobName,
		Type:            cde.JobTypeSpark,
		Mounts:          []cde.Mount{{ResourceName: descriptor.MainResourceName(s.JobName)}},
		RetentionPolicy: cde.RetentionKeepIndefinitely,
		Spark:           spark,
		Schedule:        &cde.Schedule{Enabled: false},
	}
	if sc := jc.Schedule; sc != nil {
		job.Schedule = &cde.Schedule{Enabled: true, CronExpression: sc.CronExpression, Start: sc.StartDate, End: sc.EndDate}
	}
	return job
}

// basename is the file name of an s3:// location (validated upstream).
func basename(loc string) string {
	l, err := descriptor.ParseS3Location(loc)
	if err != nil {
		return loc
	}
	return l.Basename()
}

func nonNil(ss []string) []string {
	if ss == nil {
		return []string{} // sent as [] so an update clears what a previous version had
	}
	return ss
}

func intOr(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

func strOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}
