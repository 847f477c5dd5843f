// Package artifacts is the worker's access to the S3 artifact store: it checks that a job's
// files exist (Stat, StatAll) and streams them (Open, OpenIfMatch) to whoever uploads them to
// CDE, without ever holding a whole object in memory.
//
// Configuration comes from the standard AWS SDK mechanisms (config.LoadDefaultConfig: the
// AWS_* variables, shared profiles, web identity/IRSA, container and instance roles) plus the
// one thing the SDK does not read from the environment, S3_USE_PATH_STYLE (see Config).
//
// Errors are *Error values naming the operation and the s3://bucket/key, never a credential.
// Callers branch with errors.Is on ErrNotFound, ErrAccessDenied, ErrCredentials and
// ErrChanged, and decide between a retryable and a non-retryable Temporal activity error with IsTransient.
package artifacts
