package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// PythonEnvInput names a job and the Python version its environment must have.
type PythonEnvInput struct {
	Target        Target `json:"target"`
	JobName       string `json:"jobName"`
	PythonVersion string `json:"pythonVersion"`
}

// PythonEnvPlan says which of the job's two python-env slots to build and point the job at, and
// which to delete once the job no longer uses them.
type PythonEnvPlan struct {
	Resource string   `json:"resource"`
	Stale    []string `json:"stale,omitempty"`
}

// PlanPythonEnv chooses the python-env resource of a provision so that the deployed job keeps a
// ready environment while a new one builds. The environment the job uses is kept when it has the
// wanted Python version (its requirements are synced in place, as CDE rebuilds an environment
// for new requirements). For another version the new environment is built in the job's other
// slot (descriptor.PyEnvAltResourceName), and the slot the job leaves is stale: the provision
// deletes it after the job upsert. A job without an environment takes the first slot, the name
// the reference provisioner used.
func (a *Activities) PlanPythonEnv(ctx context.Context, in PythonEnvInput) (PythonEnvPlan, error) {
	jobs, err := a.jobs(in.Target)
	if err != nil {
		return PythonEnvPlan{}, err
	}
	slots := []string{descriptor.PyEnvResourceName(in.JobName), descriptor.PyEnvAltResourceName(in.JobName)}
	exists := map[string]bool{}
	version := map[string]string{}
	for _, name := range slots {
		res, err := jobs.GetResource(ctx, name)
		switch {
		case errors.Is(err, cde.ErrNotFound):
			continue
		case err != nil:
			return PythonEnvPlan{}, classify(fmt.Sprintf("get resource %s in virtual cluster %s", name, in.Target.ClusterName), err)
		}
		exists[name] = true
		if res.PythonEnv != nil {
			version[name] = res.PythonEnv.PythonVersion
		}
	}
	current := ""
	job, err := jobs.GetJob(ctx, in.JobName)
	switch {
	case errors.Is(err, cde.ErrNotFound):
	case err != nil:
		return PythonEnvPlan{}, classify(fmt.Sprintf("get job %s in virtual cluster %s", in.JobName, in.Target.ClusterName), err)
	case job.Spark != nil && exists[job.Spark.PythonEnvResourceName]:
		current = job.Spark.PythonEnvResourceName
	}

	chosen := slots[0]
	switch {
	case current != "" && (version[current] == "" || strings.EqualFold(version[current], in.PythonVersion)):
		chosen = current
	case current != "":
		chosen = other(slots, current)
	}
	plan := PythonEnvPlan{Resource: chosen}
	if o := other(slots, chosen); exists[o] {
		plan.Stale = []string{o}
	}
	return plan, nil
}

func other(slots []string, name string) string {
	if name == slots[0] {
		return slots[1]
	}
	return slots[0]
}
