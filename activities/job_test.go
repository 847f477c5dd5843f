package activities_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/activities"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

func intp(i int) *int       { return &i }
func strp(s string) *string { return &s }

func TestBuildJob(t *testing.T) {
	name := "finance-cashflow-0-wl-development"
	t.Run("spark jar job with the reference defaults", func(t *testing.T) {
		job := activities.BuildJob(descriptor.Specific{Kind: descriptor.SparkJar, JobName: name,
			Jar: "s3://bkt/p/app.jar", ClassName: "com.example.App"}, []string{"10.0.0.1", "10.0.0.2"})
		assert.Equal(t, cde.Job{
			Name: name, Type: "spark", RetentionPolicy: "keep_indefinitely",
			Mounts: []cde.Mount{{ResourceName: descriptor.MainResourceName(name)}},
			Spark: &cde.SparkJob{File: "app.jar", ClassName: "com.example.App", Args: []string{}, Jars: []string{},
				DriverCores: 1, DriverMemory: "1g", ExecutorCores: 1, ExecutorMemory: "1g", NumExecutors: 1, LogLevel: "INFO",
				Conf: map[string]string{"dex.safariEnabled": "true", "spark.cde.idBrokerHosts": "10.0.0.1,10.0.0.2"}},
			Schedule: &cde.Schedule{Enabled: false},
		}, job)
	})
	t.Run("user conf is kept and provisioner-owned keys win", func(t *testing.T) {
		job := activities.BuildJob(descriptor.Specific{Kind: descriptor.PySpark, JobName: name, PythonFile: "s3://bkt/main.py", PythonVersion: "python3",
			JobConfig: &descriptor.JobConfig{
				Conf:         map[string]string{"spark.sql.shuffle.partitions": "8", "spark.pyspark.python": "python2", "dex.safariEnabled": "false"},
				Dependencies: []string{"s3://bkt/lib/a.py", "s3://bkt/lib/b.zip"},
				DriverCores:  intp(2), DriverMemory: strp("4g"), NumExecutors: intp(5), LogLevel: strp("WARN"),
				Schedule: &descriptor.Schedule{CronExpression: "0 3 * * *", StartDate: "2025-01-01T00:00:00Z", EndDate: "2026-01-01T00:00:00Z"},
			}}, nil)
		s := job.Spark
		assert.Equal(t, "main.py", s.File)
		assert.Empty(t, s.ClassName)
		assert.Equal(t, []string{"a.py", "b.zip"}, s.PyFiles)
		assert.Nil(t, s.Jars)
		assert.Equal(t, map[string]string{"spark.sql.shuffle.partitions": "8", "spark.pyspark.python": "python3", "dex.safariEnabled": "false"}, s.Conf)
		assert.Equal(t, 2, s.DriverCores)
		assert.Equal(t, "4g", s.DriverMemory)
		assert.Equal(t, 5, s.NumExecutors)
		assert.Equal(t, "WARN", s.LogLevel)
		assert.Equal(t, &cde.Schedule{Enabled: true, CronExpression: "0 3 * * *", Start: "2025-01-01T00:00:00Z", End: "2026-01-01T00:00:00Z"}, job.Schedule)
	})
	t.Run("pyspark job with environment names its python-env resource", func(t *testing.T) {
		job := activities.BuildJob(descriptor.Specific{Kind: descriptor.PySparkWithEnv, JobName: name, PythonFile: "s3://bkt/main.py",
			PythonVersion: "python3", RequirementsFile: "s3://bkt/requirements.txt"}, nil)
		require.NotNil(t, job.Spark)
		assert.Equal(t, descriptor.PyEnvResourceName(name), job.Spark.PythonEnvResourceName)
		assert.NotContains(t, job.Spark.Conf, "spark.cde.idBrokerHosts")
	})
}
