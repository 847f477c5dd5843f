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
	return "cde-spark/" + escapeEnvironment(environment) + "/" + escapeComponentID(componentID)
}

// MaxWorkflowIDLength is Temporal's default bound on workflow ids (limit.maxIDLength): the API
// refuses, as a problem of the component id, a request whose workflow id would be longer.
const MaxWorkflowIDLength = 1000

// escapeEnvironment writes an environment name for a workflow id as escapeComponentID does, and
// escapes "/" too, which separates the environment from the component id.
func escapeEnvironment(env string) string {
	if !strings.Contains(env, "/") {
		return escapeComponentID(env)
	}
	return strings.ReplaceAll(escapeComponentID(env), "/", "%2F")
}

// escapeComponentID writes a component id so that it can travel in a workflow id: the SDK sends
// the workflow id in a gRPC header (temporal-resource-id), which takes printable ASCII only, and
// the reference provisioner accepted any id after urn:dmb:cmp:. Each byte outside printable
// ASCII, and %, becomes %XX (uppercase hex); anything else is kept, so every id of the template's
// shape (letters, digits, _, -, :, .) is its own workflow id, as before.
func escapeComponentID(id string) string {
	n := 0
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c > 0x7e || c == '%' {
			n++
		}
	}
	if n == 0 {
		return id
	}
	const hex = "0123456789ABCDEF"
	out := make([]byte, 0, len(id)+2*n)
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c > 0x7e || c == '%' {
			out = append(out, '%', hex[c>>4], hex[c&0xf])
		} else {
			out = append(out, c)
		}
	}
	return string(out)
}

// unescapeComponentID reverses escapeComponentID (a malformed escape is kept as it is).
func unescapeComponentID(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			out = append(out, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		out = append(out, s[i])
	}
	return string(out)
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	if c <= '9' {
		return c - '0'
	}
	return c - 'A' + 10
}

// ValidateWorkflowID is the id of a validation: read-only, so validations never block
// provisions (another id) and identical requests share a run (the request hash).
func ValidateWorkflowID(environment, componentID, requestHash string) string {
	if len(requestHash) > 16 {
		requestHash = requestHash[:16]
	}
	return "cde-spark-validate/" + escapeEnvironment(environment) + "/" + escapeComponentID(componentID) + "/" + requestHash
}

// ReverseWorkflowID is the id of a reverse provisioning: it only reads CDE and writes under its
// own S3 prefix, so it never blocks an operation on the component (another id), and identical
// requests share a run (the request hash).
func ReverseWorkflowID(environment, componentID, requestHash string) string {
	if len(requestHash) > 16 {
		requestHash = requestHash[:16]
	}
	return "cde-spark-import/" + escapeEnvironment(environment) + "/" + escapeComponentID(componentID) + "/" + requestHash
}

// IsOwnWorkflowID reports whether id is one this provisioner creates (tokens must not open
// arbitrary workflows of a shared namespace).
func IsOwnWorkflowID(id string) bool {
	return strings.HasPrefix(id, "cde-spark/") || strings.HasPrefix(id, "cde-spark-validate/") || strings.HasPrefix(id, "cde-spark-import/")
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
	case strings.HasPrefix(id, "cde-spark-validate/"), strings.HasPrefix(id, "cde-spark-import/"):
		_, rest, _ = strings.Cut(id, "/")
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
	return unescapeComponentID(comp)
}
