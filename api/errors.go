package api

import (
	"fmt"

	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// retrySolution ends every system error: most are transient, and the rest need the platform team.
const retrySolution = "Please try again. If the problem persists, contact the platform team."

func moreInfo(ps descriptor.Problems) *MoreInfo {
	mi := &MoreInfo{Problems: make([]string, len(ps)), Solutions: ps.Solutions()}
	for i, p := range ps {
		mi.Problems[i] = p.String()
	}
	if mi.Solutions == nil {
		mi.Solutions = []string{}
	}
	return mi
}

// userMessage summarises problems in one sentence for the Witboost UI.
func userMessage(what string, ps descriptor.Problems) string {
	if len(ps) == 1 {
		return fmt.Sprintf("%s: %s", what, ps[0].Message)
	}
	return fmt.Sprintf("%s: %d problems, see the details", what, len(ps))
}

// invalidRequest is the 400 body of a refused descriptor.
func invalidRequest(ps descriptor.Problems) RequestValidationError {
	return RequestValidationError{
		Errors:          ps.Messages(),
		UserMessage:     userMessage("The descriptor is not valid", ps),
		InputErrorField: ps.Field(),
		MoreInfo:        moreInfo(ps),
	}
}

// validationResult is the ValidationResult of a validation's problems.
func validationResult(ps descriptor.Problems) ValidationResult {
	if len(ps) == 0 {
		return ValidationResult{Valid: true}
	}
	return ValidationResult{Valid: false, Error: &ValidationError{
		Errors:          ps.Messages(),
		UserMessage:     userMessage("The descriptor is not valid", ps),
		InputErrorField: ps.Field(),
		MoreInfo:        moreInfo(ps),
	}}
}

// systemError is the body of a failure that is not the request's fault.
func systemError(msg, user string, solutions ...string) SystemError {
	if len(solutions) == 0 {
		solutions = []string{retrySolution}
	}
	return SystemError{Error: msg, UserMessage: user, MoreInfo: &MoreInfo{Problems: []string{msg}, Solutions: solutions}}
}
