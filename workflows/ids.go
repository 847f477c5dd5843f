package workflows

import (
	"strings"

	"go.temporal.io/sdk/temporal"
)

// ComponentWorkflowID is the workflow id of every mutating operation (provision, unprovision) on
// one component in one environment. Sharing it makes Temporal's "one open run per id" the lock
// that keeps two operations on a component from running at once, makes a retried request find
// its run, and lets the Temporal UI list a component's history by id prefix. The environment is
// part of it because one provisioner may serve several environments of the same component.
func ComponentWorkflowID(environment, componentID string) string {
	return "cde-spark/" + environment + "/" + componentID
}

// ValidateWorkflowID is the id of a validation: read-only, so validations never block
// provisions (another id) and identical requests share a run (the request hash).
func ValidateWorkflowID(environment, componentID, requestHash string) string {
	if len(requestHash) > 16 {
		requestHash = requestHash[:16]
	}
	return "cde-spark-validate/" + environment + "/" + componentID + "/" + requestHash
}

// IsOwnWorkflowID reports whether id is one this provisioner creates (tokens must not open
// arbitrary workflows of a shared namespace).
func IsOwnWorkflowID(id string) bool {
	return strings.HasPrefix(id, "cde-spark/") || strings.HasPrefix(id, "cde-spark-validate/")
}

// Search attributes set on every run, so the Temporal UI lists every run of a component, a data
// product or an environment. They are registered by the API and the worker at start-up.
var (
	SAComponentID   = temporal.NewSearchAttributeKeyKeyword("CdeComponentId")
	SADataProductID = temporal.NewSearchAttributeKeyKeyword("CdeDataProductId")
	SAEnvironment   = temporal.NewSearchAttributeKeyKeyword("CdeEnvironment")
	SAOperation     = temporal.NewSearchAttributeKeyKeyword("CdeOperation")
)

// SearchAttributeKeys lists them, for registration.
func SearchAttributeKeys() []temporal.SearchAttributeKeyKeyword {
	return []temporal.SearchAttributeKeyKeyword{SAComponentID, SADataProductID, SAEnvironment, SAOperation}
}

// ComponentIDFromWorkflowID returns the component id inside one of this provisioner's workflow
// ids ("" for any other id), so that every log line of a run can carry it.
func ComponentIDFromWorkflowID(id string) string {
	var rest string
	switch {
	case strings.HasPrefix(id, "cde-spark/"):
		rest = strings.TrimPrefix(id, "cde-spark/")
	case strings.HasPrefix(id, "cde-spark-validate/"):
		rest = strings.TrimPrefix(id, "cde-spark-validate/")
		if i := strings.LastIndexByte(rest, '/'); i >= 0 {
			rest = rest[:i]
		}
	default:
		return ""
	}
	_, comp, ok := strings.Cut(rest, "/") // after the environment
	if !ok {
		return ""
	}
	return comp
}
