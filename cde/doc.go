// Package cde is the Go client of Cloudera's CDP control plane and of the
// jobs API of a Cloudera Data Engineering (CDE) virtual cluster.
//
// Three clients, one per credential:
//
//   - CDPClient signs control-plane calls with an API access key
//     (x-altus-date / x-altus-auth, Ed25519 or RSA): listServices,
//     describeService, listVcs, describeVc, listDatalakes, describeDatalake,
//     plus the lookups FindService, FindVc and IDBrokerHosts.
//   - KnoxTokenSource gets bearer tokens from a CDE service's Knox gateway
//     with the workload user's basic credentials, caching one per service
//     host until shortly before its expiry.
//   - JobsClient calls a virtual cluster's jobs API (the VcDescription's
//     VcAPIURL) with those tokens: jobs list/get/create/update/delete,
//     resources get/create/delete, streamed file upload and file delete. A
//     401 refreshes the token and retries once.
//
// Retries: each client repeats, inside one call, a request that failed
// transiently (408, 429, 5xx, connection resets and refusals, timeouts,
// answers cut short) per its RetryPolicy: by default 4 attempts, jittered
// exponential backoff from 150 ms (capped at 2 s), a Retry-After (seconds
// or HTTP date) waited for up to 5 s; a longer one returns the error at
// once, carrying the delay, for the caller's own retry. Only what is safe
// to send twice is repeated, decided per call: the control plane's six
// operations are POSTs that only read (listServices, describeService,
// listVcs, describeVc, listDatalakes, describeDatalake; an operation is
// repeated only when listed in cdpReadOperations); the Knox token is a
// GET; on the jobs API GET, PUT, PATCH (always a whole job document) and
// DELETE (a 404 on delete is success to every caller) are repeated, POST
// only for the creation of a job or of a resource, whose callers take a 409
// as "an earlier attempt created it" (UpdateJob's own re-creation
// included); a request body is sent again only when it can be produced
// again (JSON, a seekable upload, or UploadFileFrom's open, called anew for
// each attempt). Any other POST, and an upload of a plain reader, is sent
// once and its failure left to the caller.
//
// Errors: a non-2xx answer is an *APIError (operation, method, path,
// status, Cloudera code, message, request id, Retry-After) that matches
// ErrNotFound, ErrConflict, ErrUnauthorized or ErrForbidden with
// errors.Is; IsTransient says whether to retry (408, 429, 5xx, timeouts,
// connection errors; never 401/403 or a canceled context). No error, String
// or LogValue of this package contains a private key, a password, a token
// or an Authorization header; a server that quotes the request's
// credentials in its error text (token, password, Basic or x-altus-auth
// value, 8 characters or more) has them replaced by REDACTED.
//
// TLS: certificates are always verified. Callers pass an *http.Client; nil
// means one on http.DefaultTransport, whose roots are the system's; on
// Linux crypto/x509 also loads SSL_CERT_FILE / SSL_CERT_DIR, which is how
// the local simulator's CA is trusted. Plain http base URLs are refused,
// since every request carries a credential. Timeouts come from the caller's
// context and http.Client: the client's Timeout bounds each attempt of each
// request, except the jobs client's file uploads, which use the same
// transport without it (their duration depends on their size; the caller's
// context and the transport's ResponseHeaderTimeout bound them).
//
// Points the wire reference leaves UNCONFIRMED, and what this client does:
//
//   - Signing: the Go SDK's form, padded URL-safe base64 for both halves of
//     x-altus-auth, compact JSON auth params, zero-padded RFC 1123 date,
//     path without query (CDP operations have none).
//   - Control-plane success: any 2xx is accepted (the specs say 200). A
//     describe* answer without its object is ErrMalformedResponse; missing
//     list arrays are empty lists. No pagination: the DE and datalake list
//     operations document no page tokens.
//   - Duplicates by name: FindService/FindVc list with removeDeleted=false
//     and prefer a running entry, then any other state, then a deleted
//     one, so "recently deleted" is visible. Live services of one name in
//     several CDP environments are an *AmbiguousServiceError (ErrAmbiguous):
//     never an arbitrary pick. The datalake is the one whose
//     environmentCrn is the service's, preferring status RUNNING if two are.
//   - Knox expires_in is absolute epoch milliseconds, -1 meaning no expiry;
//     a token is replaced DefaultKnoxRefreshMargin (capped at half its
//     lifetime) before expiry. A token with no usable expiry (absent, 0, or
//     already past by the local clock) is used once and not cached.
//   - Jobs API error bodies: parsed as Cloudera's {"code","message"} (also
//     "error", "errorMessages") when JSON, else kept as text (truncated).
//     Request id from x-altus-request-id or X-Request-Id.
//   - Writes accept any 2xx, with an empty, {} or full body (ignored);
//     reads accept absent fields and an empty body (zero values).
//   - POST /jobs on an existing name and DELETE of a missing job/resource
//     are assumed to be 409 / 404 and surface as ErrConflict / ErrNotFound.
//   - Job JSON: on create, optional scalars are omitted when zero, nil
//     slices/maps omitted and empty ones sent; schedule.enabled is always
//     sent.
//   - PATCH /jobs/{name} semantics are unknown, and a body that only says
//     what the job should be does not converge under all of them: an RFC
//     7386 merge keeps spark.conf keys left out of the body; a
//     struct-decoding server keeps members sent as null (a stale className,
//     pythonEnvResourceName, jars, schedule end). UpdateJob therefore GETs
//     the job first and sends the whole new job (unset optional fields as
//     null, witboost's shape; mounts [] when nil; {"enabled":false} for a
//     nil schedule) plus, for what only the stored job has, null for each
//     stale conf key inside the conf map and [] for each stale list, which
//     merge, struct-decoding and replacing servers all apply. No "" is sent
//     to clear a string: CDE may refuse it as a class, resource or cron.
//     A stale scalar or object that only null removes, and that changes
//     what runs (className, pythonEnvResourceName, proxyUser,
//     cronExpression, schedule end, the other job type's object), is
//     verified with a GET after the PATCH; if the server kept it, the job
//     is re-created (DELETE, POST), the only wire-level way to clear it
//     there. Members a server may default (schedule.user and start, sizes,
//     logLevel, schedule flags) are not verified, so a default read back
//     never causes a re-creation; under a struct-decoding server an omitted
//     one keeps its old value. The integration tests run the same update
//     table against the simulator's merge, fieldwise and replace modes.
//   - python-env creation sends the documented "pythonEnv":{"pythonVersion"}
//     (not witboost's "pythonEnvironment"); no PyPI mirror field, whose JSON
//     name is unknown.
//   - Resource files: "sizeBytes" (CLI shape), "size" also accepted.
//   - Upload: one part named "file", filename = base name of the path,
//     Content-Type application/java-archive for .jar else text/plain (as
//     witboost); the stored path is the URL's. The multipart framing is
//     written by mime/multipart and spliced around the content with an
//     io.MultiReader (streamed, no goroutine, Content-Length when the size
//     is known). A 401 resends a seekable content after rewinding it; a
//     plain reader cannot be resent, so its token is first proven by a GET
//     of the resource.
//   - GET /jobs is paged with limit=100&offset=N while meta.hasNext; a
//     server that ignores offset is detected (same first job twice).
//   - Path segments (job, resource, file path segments) are URL-escaped;
//     empty, "." and ".." segments are refused.
package cde
