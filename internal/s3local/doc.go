// Package s3local runs a local S3-compatible server (gofakes3) for `make run` and the
// end-to-end tests, and seeds it with real sample artifacts for the example descriptors.
//
// Objects live in files (gofakes3's afero backend over a directory), not in memory, so that a
// 1 GiB artifact costs disk space rather than heap. The server listens on 127.0.0.1 only and
// checks no signature: any credentials work (Env gives a matching worker environment).
//
// Deny makes the server refuse chosen actions on chosen buckets and keys the way S3 refuses
// what a policy does not allow (403 AccessDenied, and 403 instead of 404 for a missing key
// when s3:ListBucket is denied), so tests can check how a client answers a missing permission.
//
// Limits of that backend (gofakes3 v1.2.0) worth knowing: an upload holds the backend's lock
// until its last byte, so HEAD and GET requests wait while a large object is being put (seed
// before measuring reads); a key cannot be both an object and the folder of another ("a" and
// "a/b"), since keys are file paths.
package s3local
