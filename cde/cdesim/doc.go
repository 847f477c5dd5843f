// Package cdesim simulates the Cloudera services the provisioner talks to, at
// the wire level described in reference/cde-api.md: the CDP control plane
// (signed requests, DE and datalake operations), each CDE service's Knox
// token endpoint, and each virtual cluster's jobs API (jobs, job runs,
// resources and their files). It is an independent implementation of that
// reference: it does not import package cde, so a client that passes against
// it proves something about the reference, not about shared code.
//
// # Hosts
//
// Everything is served over HTTPS on a loopback IP (127.0.0.1 by default)
// with a certificate from a CA generated at start (ECDSA P-256; server
// certificate for IP 127.0.0.1 and DNS localhost). Sim.WriteCA writes the CA
// as PEM for SSL_CERT_FILE; Sim.CertPool and Sim.Client serve Go tests.
//
// As in CDP, hosts differ: one control-plane listener
// (Sim.ControlPlaneURL, the CDP_ENDPOINT_URL), one listener per service
// whose address is the service's clusterFqdn ("127.0.0.1:<port>", Knox token
// endpoint at https://{clusterFqdn}/gateway/authtkn/knoxtoken/api/v1/token),
// and one listener per virtual cluster whose vcApiUrl is
// "https://127.0.0.1:<port>/dex/api/v1". A client that mixes up hosts (e.g.
// calls the jobs API on the Knox host) gets a 404, as it would in CDP.
// Ports are ephemeral unless Options.ControlPlanePort / Options.PortBase fix
// them.
//
// # Authentication
//
// Control plane: x-altus-auth / x-altus-date are verified per reference §1.3:
// Ed25519 (ed25519v1) or RSA PKCS#1 v1.5 SHA-256 (rsav1) keys; auth params
// and signature in base64url with or without padding; auth params JSON with
// or without spaces; dates with a zero-padded (Go, Python) or unpadded
// (Java) day; the signed path is the escaped URL path, or path?query. The
// auth method must match the key's type. Failures (missing header,
// malformed header, unknown access key, bad signature, date outside
// Options.MaxClockSkew of the simulator's clock) answer
// Options.AuthFailureStatus (401) with {"code":"UNAUTHENTICATED","message":…}.
// Every control-plane response carries x-altus-request-id.
//
// Knox: GET or POST with HTTP Basic auth of a seeded workload user; 200 with
// all six fields witboost requires (access_token, token_id, managed as a
// string, token_type "Bearer", expires_in as absolute epoch milliseconds,
// endpoint_public_cert); an optional ?lifespan=PnDTnHnMnS shortens the
// token's life. Bad or missing credentials: 401 with an empty body and
// WWW-Authenticate. A deleted service's Knox answers 404.
//
// Jobs API: "Authorization: Bearer <token>" with a token issued by the
// Knox of the VC's service (or any service, Options.TokensAcrossServices),
// not expired by the simulator's clock (Options.TokenTTL, default 1h).
// Missing, unknown, expired or foreign tokens: 401 {"message":…}. A VC whose
// status is not AppInstalled, or whose service is not
// ClusterCreationCompleted, answers 503 {"message":…} after authentication.
//
// # Jobs API behaviour
//
// Jobs: POST /jobs 201 (empty body), duplicate name
// Options.DuplicateJobStatus (409); GET /jobs/{name} 200 (the stored job with
// nulls removed, plus created, modified, lastUsed, mounts (default []) and
// retentionPolicy (default keep_indefinitely)) or 404; PATCH 200 (empty) or
// 404; DELETE 204 or 404; GET /jobs with limit (default 20, max 1000),
// offset, orderby, orderasc and repeatable filter=field[op]value (ops eq,
// noteq, neq, gt, gte, lt, lte, like with % and _, rlike; " AND " joins
// several in one parameter; dotted fields such as spark.file), answering
// {"jobs":[…],"meta":{"hasNext","limit","offset","count"}}, count being the
// number of matches. Validation (400): name without '/', '?', '#', '%' or
// spaces; type spark (with spark.file) or airflow; mounts[].resourceName
// naming an existing files resource and spark.pythonEnvResourceName an
// existing python-env resource (unless Options.SkipMountValidation).
// POST /jobs/{name}/run: 201 {"id":n}; 400 "cannot use resource '<r>' in
// status '<s>'" when the job's python-env is not ready; a repeated
// requestID is 409 with the earlier run's id. GET /job-runs, GET
// /job-runs/{id}, POST /job-runs/{id}/kill (204). GET /info answers appName.
//
// Resources: POST /resources 201 (empty), 409 if the name exists, 400 for a
// type other than files or python-env or a python-env without
// pythonEnv.pythonVersion (pythonEnvironment.pythonVersion, as witboost
// sends it, is accepted too). GET /resources/{name}[?includeFiles=] 200 or
// 404: name, type, status, created, modified, lastUsed, retentionPolicy,
// signature (when the resource has files), files
// [{path,signature,sizeBytes,created,modified}], pythonEnv
// {pythonVersion,type} and pythonEnvInfo for python-env. GET /resources lists
// them (same query conventions as jobs). DELETE /resources/{name} 204 or 404.
// PUT /resources/{name}/{path} takes multipart/form-data and stores the
// first part named "file" under {path} (nested paths allowed), streaming it
// through SHA-1; 201 (empty); overwriting is allowed; 400 for a non-multipart
// body or no "file" part, or for any file other than requirements.txt in a
// python-env. GET /resources/{name}/{path} returns the bytes
// (application/octet-stream), DELETE removes the file (204).
//
// Signatures: a file's signature is the hex SHA-1 of its content; a
// resource's is the hex SHA-1 over "path\x00fileSignature\n" for its files in
// path order (the real algorithm is not public; both are 40-hex, "sha1-like"
// as the reference observes).
//
// python-env lifecycle, computed lazily from the simulator's clock so tests
// drive it with a ManualClock: pending-build until requirements.txt is
// uploaded and for Options.PythonEnvPending after each upload, then building
// for Options.PythonEnvBuild, then ready (pythonEnvInfo.statusReason "Build
// completed") or, after Sim.FailPythonEnvBuild, failed with the given reason.
// Options.PythonEnvStatusLag (Sim.SetPythonEnvTiming) models a status that
// lags behind an upload: an environment built before keeps reporting that
// build's outcome for the lag before the new build shows.
//
// # UNCONFIRMED choices (reference §4) and their knobs
//
//   - Clock skew tolerance: 15 minutes (Options.MaxClockSkew; <0 disables).
//   - Status of signature failures: 401 UNAUTHENTICATED (Options.AuthFailureStatus, e.g. 403).
//   - Control-plane codes: NOT_FOUND 404, INVALID_ARGUMENT 400, POST-only operations 405.
//   - listServices removeDeleted=true still lists services deleted less than
//     Options.DeletedServiceRetention ago (1h), since witboost expects to see
//     "recently deleted" services there.
//   - listVcs of a service without VCs: empty list (Options.EmptyListVcsStatus, e.g. 504 as cdpy reports).
//   - Knox token TTL 1h (Options.TokenTTL); tokens valid on every VC of the
//     issuing service only (Options.TokensAcrossServices).
//   - VC API error body {"message": "..."}; success codes 201 create/upload/run,
//     200 PATCH, 204 DELETE, with empty bodies.
//   - A VC not AppInstalled, or of a service not ClusterCreationCompleted,
//     answers 503 on its jobs API; a deleted service's Knox answers 404.
//   - Lists: limit defaults to 20 (at most 1000); meta.count is the number of
//     matches, not the page size.
//   - POST /jobs with an existing name: 409 (Options.DuplicateJobStatus).
//   - PATCH /jobs/{name}: RFC 7386 merge patch, so conf keys left out of the
//     body stay and null removes a field (Options.Patch: PatchReplace for
//     full replacement, PatchFieldwise for a struct-decoding server where
//     null keeps the stored value and maps are replaced whole). The name
//     cannot change (400).
//   - GET /resources/{name} includes files unless includeFiles=false; the
//     list includes them only with includeFiles=true.
//   - Upload stores the file under the URL path, not the part's filename.
//   - Deleting a resource still mounted by a job is allowed.
//   - Status vocabulary: service/VC statuses are free strings (set any, e.g.
//     "ClusterProvisioning", "AppInstalling"); datalake status RUNNING and
//     instance state HEALTHY by default.
//   - clusterFqdn is 127.0.0.1:<port> (no "service." host name), vcId
//     defaults to dex-app-<8 hex>, clusterId to cluster-<8 hex>.
//   - custom-runtime-image and airflow-python-env resources are not simulated (400).
//
// # Seed
//
// Start takes a Seed, usually read from YAML by LoadSeed (unknown keys are
// errors). Example (see examples/cdesim-seed.yaml for the local stack's):
//
//	tenant: my-tenant                      # optional, used in CRNs and tenantId
//	apiKeys:
//	  - accessKeyId: 4f2a6c1e-...          # the CDP_ACCESS_KEY_ID
//	    privateKey: <44-char base64 Ed25519 seed> | <PKCS#8 PEM, RSA or Ed25519>
//	  - accessKeyId: other
//	    publicKey: <base64 32-byte Ed25519 key> | <PKIX "PUBLIC KEY" PEM>
//	workloadUsers:
//	  - {name: srv_deployer, password: secret}
//	services:
//	  - name: cde-dev
//	    clusterId: cluster-1234            # optional (generated)
//	    crn: crn:cdp:de:...                # optional (generated; not on the wire)
//	    environmentName: dev-env
//	    environmentCrn: crn:cdp:environments:...   # optional (generated)
//	    status: ClusterCreationCompleted   # default; any string
//	    cloudPlatform: AWS                 # default
//	    creatorEmail: ops@example.com      # optional
//	    virtualClusters:
//	      - name: vc-dev
//	        vcId: dex-app-1234             # optional (generated)
//	        status: AppInstalled           # default; any string
//	        sparkVersion: SPARK3           # default
//	        vcTier: CORE                   # default
//	datalakes:
//	  - name: dev-dl
//	    crn: crn:cdp:datalake:...          # optional (generated)
//	    environmentName: dev-env           # listDatalakes filters on name or CRN
//	    environmentCrn: crn:cdp:environments:...
//	    status: RUNNING                    # default
//	    instanceGroups:
//	      - name: idbroker
//	        instances:
//	          - {id: i-1, privateIp: 10.0.1.10, discoveryFQDN: idb0.example, state: HEALTHY}
//
// clusterFqdn and vcApiUrl are always assigned by the simulator. Two services
// (or two VCs of one service) may share a name only if all but one are
// deleted. DemoSeed returns the same state as examples/cdesim-seed.yaml.
//
// # Tests
//
// Sim exposes its state (Services, Service, VC, SetServiceStatus,
// SetVCStatus, AddService, AddVC, AddDatalake, Job, JobNames, PutJob,
// DeleteJob, JobRuns, SetJobRunStatus, Resource, ResourceNames, AddResource,
// PutFile, FileBytes, FailPythonEnvBuild, IssueToken), fault injection on
// routes "[METHOD ]/path/glob" (FailNext, SetLatency, Block + AwaitBlocked,
// ClearFaults), a request log without secrets (Requests, ResetRequests) and
// a count of the file bytes received by uploads (UploadedBytes).
// StartForTest starts a simulator closed at the end of a test.
package cdesim
