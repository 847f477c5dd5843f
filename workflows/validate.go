package workflows

import (
	"fmt"

	"go.temporal.io/sdk/workflow"
)

// Validate checks a descriptor the way a provision would, without changing anything: the static
// problems the API found, the CDE service and virtual cluster, and the artifacts on S3, all in
// one answer. An invalid descriptor is a completed validation with Valid false.
func Validate(ctx workflow.Context, in Input) (Result, error) {
	return validate(newRun(ctx, OpValidate, in, nil))
}

func validate(r *run) (Result, error) {
	if err := r.recheckInput(); err != nil {
		return Result{}, err
	}
	in := r.in
	s := in.Descriptor.Component.Specific
	r.step("validation", fmt.Sprintf("Checking CDE service %s, virtual cluster %s and %d artifacts", s.CDEService, s.CDECluster, len(in.Descriptor.Artifacts())))
	res, art, err := r.checks()
	if err != nil {
		return Result{}, err
	}
	problems := append(append(res.Problems, in.Problems...), art.Problems...)
	out := Result{Operation: OpValidate, Valid: len(problems) == 0, Problems: problems}
	if out.Valid {
		out.Message = "Valid"
		r.step("validation", "The descriptor is valid")
	} else {
		out.Message = fmt.Sprintf("Invalid: %d problems", len(problems))
		r.note("WARNING", "validation", out.Message)
	}
	out.Logs = r.logs
	return out, nil
}
