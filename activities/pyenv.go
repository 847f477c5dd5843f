package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// RequirementsPath is the one file of a python-env resource (the descriptor requires the name).
const RequirementsPath = "requirements.txt"

// PythonEnvInput names a job and the Python version its environment must have.
type PythonEnvInput struct {
	Target        Target `json:"target"`
	JobName       string `json:"jobName"`
	PythonVersion string `json:"pythonVersion"`
	// Requirements is the requirements file to build; Manifest (and LegacyManifest) where the
	// upload manifest says what the environment in use was built from (see SyncInput).
	Requirements   *ArtifactObject `json:"requirements,omitempty"`
	Manifest       string          `json:"manifest,omitempty"`
	LegacyManifest string          `json:"legacyManifest,omitempty"`
}

// PythonEnvPlan says which of the job's two python-env slots to build and point the job at, and
// which to delete once the job no longer uses them.
type PythonEnvPlan struct {
	Resource string   `json:"resource"`
	Stale    []string `json:"stale,omitempty"`
}

// PlanPythonEnv chooses the python-env resource of a provision so that the deployed job keeps a
// ready environment while a new one builds, and keeps it if the build fails. The environment the
// job uses is kept when it has the wanted Python version and was built from the same
// requirements (the upload manifest says so): nothing to build. Otherwise the new environment is
// built in the job's other slot (descriptor.PyEnvAltResourceName), and the slot the job leaves
// is stale: the provision deletes it after the job upsert. A job without an environment takes
// the first slot, the name the reference provisioner used.
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
	if current != "" {
		chosen = other(slots, current)
		sameVersion := version[current] == "" || strings.EqualFold(version[current], in.PythonVersion)
		if sameVersion {
			unchanged, err := a.builtFrom(ctx, jobs, in, current)
			if err != nil {
				return PythonEnvPlan{}, err
			}
			if unchanged {
				chosen = current
			}
		}
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

// builtFrom says whether the environment resource was built from in.Requirements: the upload
// manifest records the S3 object its requirements.txt came from, and CDE still holds that file.
// Anything unknown means "no", which costs a build beside, never a stale environment.
func (a *Activities) builtFrom(ctx context.Context, jobs *cde.JobsClient, in PythonEnvInput, resource string) (bool, error) {
	if in.Requirements == nil || in.Manifest == "" {
		return false, nil
	}
	res, err := jobs.GetResource(ctx, resource)
	if err != nil {
		return false, classify(fmt.Sprintf("get resource %s in virtual cluster %s", resource, in.Target.ClusterName), err)
	}
	files := map[string]cde.ResourceFile{}
	for _, f := range res.Files {
		files[f.Path] = f
	}
	have, ok := files[RequirementsPath]
	if !ok {
		return false, nil
	}
	m, err := a.manifestFor(ctx, jobs, in)
	if err != nil {
		return false, err
	}
	entry, known := m.Files[resource+"/"+RequirementsPath]
	return known && unchanged(entry, *in.Requirements, have), nil
}

// manifestFor reads the manifest of the job, from its own resource or, before it moved there,
// from the legacy one.
func (a *Activities) manifestFor(ctx context.Context, jobs *cde.JobsClient, in PythonEnvInput) (manifest, error) {
	for _, name := range []string{in.Manifest, in.LegacyManifest} {
		if name == "" {
			continue
		}
		own := a.readOwnManifest(ctx, jobs, SyncInput{Target: in.Target, ManifestResource: name})
		if own.err != nil || own.found {
			return own.m, own.err
		}
	}
	return manifest{Version: 1, Files: map[string]manifestEntry{}}, nil
}
