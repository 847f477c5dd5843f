package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/witboost-community/cde-spark-provisioner/cde"
)

// Application error types set by activities. They are part of the contract with the workflows
// and the API (which maps them to answers), so they never change meaning.
const (
	// ErrTypeTransient marks a failure worth retrying: 5xx, 429, timeouts, connection errors.
	ErrTypeTransient = "Transient"
	// ErrTypeCDE is a permanent refusal of CDP or CDE (a 4xx other than auth, a malformed
	// answer): retrying cannot help, a person must act.
	ErrTypeCDE = "CDERefused"
	// ErrTypeAuth is a 401/403 of CDP, Knox or CDE: the provisioner's credentials or roles.
	ErrTypeAuth = "CDEAuth"
	// ErrTypeS3 is a permanent S3 failure (access denied, an object that changed under us).
	ErrTypeS3 = "S3Refused"
	// ErrTypeOwnership is a job that another component owns (descriptor.ConfOwnerKey): the
	// provisioner refuses to change it. Its details carry the descriptor.Problem.
	ErrTypeOwnership = "JobOwnedByAnotherComponent"
)

// MaxRetryAfterDelay caps the delay a Retry-After answer imposes on the activity retry
// (temporal.ApplicationErrorOptions.NextRetryDelay, which replaces the retry policy's backoff and
// is not bounded by its MaximumInterval). A server asking for an hour would otherwise push the
// next attempt past the step's budget (its ScheduleToCloseTimeout, 5 minutes for the CDP
// checks): the run would end with a timeout instead of CDE's answer. Capped, the step tries
// again within its budget, and if CDE still refuses, fails with CDE's own status and message.
// Retry-After values up to cde.DefaultRetryMaxRetryAfter (5 s) never get here: the cde client
// waits for them itself.
const MaxRetryAfterDelay = time.Minute

// transientChecker says whether an error of one of the outside systems is worth a retry.
type transientChecker func(error) bool

// classify turns an error of CDP, CDE or S3 into what Temporal needs to decide on retries:
// transient failures stay retryable (honouring Retry-After, up to MaxRetryAfterDelay), everything else becomes a
// non-retryable application error whose message says what failed. The messages of package cde
// and of the S3 store never contain credentials, so they are safe for history.
func classify(what string, err error, transient ...transientChecker) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	msg := fmt.Sprintf("%s: %v", what, err)
	isTransient := cde.IsTransient(err)
	for _, t := range transient {
		isTransient = isTransient || t(err)
	}
	if isTransient {
		opts := temporal.ApplicationErrorOptions{}
		if apiErr, ok := errors.AsType[*cde.APIError](err); ok && apiErr.RetryAfter > 0 {
			opts.NextRetryDelay = min(apiErr.RetryAfter, MaxRetryAfterDelay)
		}
		return temporal.NewApplicationErrorWithOptions(msg, ErrTypeTransient, opts)
	}
	typ := ErrTypeCDE
	if errors.Is(err, cde.ErrUnauthorized) || errors.Is(err, cde.ErrForbidden) {
		typ = ErrTypeAuth
	}
	return temporal.NewNonRetryableApplicationError(msg, typ, nil)
}

// isTransient says whether an error an activity step returned would be retried by Temporal: a
// retryable application error (classify's transient ones), or a raw error of the outside systems
// that is transient.
func isTransient(err error) bool {
	if appErr, ok := errors.AsType[*temporal.ApplicationError](err); ok {
		return !appErr.NonRetryable()
	}
	return cde.IsTransient(err)
}

// causeText is the message of an error a step returned, for a warning in the run's logs: the
// application error's own message, without the SDK's wrapping.
func causeText(err error) string {
	if appErr, ok := errors.AsType[*temporal.ApplicationError](err); ok {
		return appErr.Message()
	}
	return err.Error()
}
