package api

import (
	"encoding/base64"
	"errors"
	"regexp"
	"strings"

	"github.com/witboost-community/cde-spark-provisioner/workflows"
)

// A token names one run: its workflow id and run id, so the status of a provision is never
// read from a later run under the same id (a subsequent unprovision, say). It is opaque to the
// Coordinator and safe in a URL path.

const tokenPrefix = "v1."

var runIDPattern = regexp.MustCompile(`^[0-9a-fA-F-]{36}$`)

// EncodeToken returns the token of a run.
func EncodeToken(workflowID, runID string) string {
	return tokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(workflowID+"\n"+runID))
}

var errBadToken = errors.New("malformed token")

// DecodeToken returns the run a token names. Anything this provisioner did not issue is
// refused: another prefix, bad encoding, a run id that is not a UUID, a workflow id that is not
// one of ours.
func DecodeToken(token string) (workflowID, runID string, err error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	if !ok || len(token) > 2048 {
		return "", "", errBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return "", "", errBadToken
	}
	workflowID, runID, ok = strings.Cut(string(raw), "\n")
	if !ok || !runIDPattern.MatchString(runID) || !workflows.IsOwnWorkflowID(workflowID) {
		return "", "", errBadToken
	}
	return workflowID, runID, nil
}
