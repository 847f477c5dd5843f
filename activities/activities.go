// Package activities holds one Temporal activity per external step of a provisioning: the CDP
// service and virtual-cluster checks, the idbroker lookup, the S3 artifact checks, the CDE
// resources, uploads and job. Activities are idempotent (they may run more than once), read
// credentials only from the worker's configuration (never from their inputs, which are stored in
// workflow history), and classify every failure as transient (retried by Temporal) or permanent
// (a non-retryable application error a person can act on).
package activities

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
	"github.com/witboost-community/cde-spark-provisioner/cde"
	"github.com/witboost-community/cde-spark-provisioner/descriptor"
)

// Activities holds the worker's clients. Workflows call its methods through a typed nil
// receiver (var a *Activities), so signatures are checked at compile time.
type Activities struct {
	CDP *cde.CDPClient
	// Tokens issues Knox tokens for the jobs API of each DE service.
	Tokens *cde.KnoxTokenSource
	// HTTP is the client of the jobs API (TLS verification always on).
	HTTP *http.Client
	// Uploads, when set, is the client that file uploads use instead of HTTP (see
	// internal/app: one HTTP/1.1 connection per upload in flight).
	Uploads *http.Client
	// Store reads artifacts from S3.
	Store *artifacts.Store
	// IDBrokerLookup sets spark.cde.idBrokerHosts from the datalake (CDE_IDBROKER_LOOKUP).
	IDBrokerLookup bool
	// UploadConcurrency bounds the uploads of one provision running at once (0: the default).
	UploadConcurrency int
	// Metrics records uploaded bytes, synced files and S3 requests (nil: nothing).
	Metrics *Metrics
	// StatConcurrency bounds the S3 checks of one job done at once (0: the store's default).
	StatConcurrency int
	// Allowed is where artifacts may be read from (S3_ALLOWED_PREFIXES); the zero value allows
	// every location the worker's role can read.
	Allowed artifacts.Allowlist
	// Lookups keeps the control plane's answers for a short while (CDP_LOOKUP_CACHE_TTL); nil
	// keeps nothing.
	Lookups *Lookups
	// Temporal is the worker's client, for drift detection's registry (DiscoverDrift,
	// RecordDrift): which components Temporal recorded as provisioned. Nil: drift detection is
	// unavailable.
	Temporal client.Client
}

func (a *Activities) jobs(t Target) (*cde.JobsClient, error) {
	c, err := cde.NewJobsClient(t.VcAPIURL, a.Tokens.ForHost(t.ClusterFqdn), a.HTTP,
		cde.WithTransferClient(a.Uploads),
		cde.WithFailureHook(func(method string, err error) {
			if staleTarget(method, err) {
				a.Lookups.Forget(t)
			}
		}))
	if err != nil {
		return nil, classify("jobs API of virtual cluster "+t.ClusterName, err)
	}
	return c, nil
}

// staleTarget says whether a jobs-API request that failed for good suggests the virtual cluster
// is not what the control plane said a moment ago: no answer (or a 5xx) from it, a refused
// token, or a 404 to a write (the container is gone). A 404 to a read or a delete, a 409, and
// other 4xx answers are about the object asked for, or the request, not the cluster.
func staleTarget(method string, err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, cde.ErrConflict) {
		return false
	}
	if errors.Is(err, cde.ErrNotFound) {
		return method != http.MethodGet && method != http.MethodHead && method != http.MethodDelete
	}
	if apiErr, ok := errors.AsType[*cde.APIError](err); ok {
		return apiErr.Status >= 500 || errors.Is(err, cde.ErrUnauthorized) || errors.Is(err, cde.ErrForbidden)
	}
	return true
}

// ResolveTarget finds the CDE service and virtual cluster by name and checks that both are
// running. Missing or not running is an answer (Resolution.Problems, with the reference's six
// messages), not an error: validation reports it, and unprovision skips. Only a failure to ask
// CDP is an error, transient ones retried, so a CDP outage is never mistaken for "not found".
func (a *Activities) ResolveTarget(ctx context.Context, in ResolveInput) (Resolution, error) {
	res, err := a.lookUpTarget(ctx, in)
	if err != nil || len(res.Problems) > 0 {
		return res, err
	}
	t := res.Target
	// The owner of the job (jobs API) and the idbroker hosts (CDP) are asked side by side.
	var (
		hostsErr error
		wg       sync.WaitGroup
	)
	if in.IDBrokerHosts {
		wg.Go(func() { res.IDBrokerHosts, hostsErr = a.IDBrokerHosts(ctx, t) })
	}
	if in.JobName != "" && in.ComponentID != "" {
		owner, err := a.jobOwner(ctx, t, in.JobName)
		if err != nil {
			wg.Wait()
			return Resolution{}, err
		}
		if owner != "" && owner != in.ComponentID {
			res.Problems = append(res.Problems, descriptor.JobOwnedByAnother(in.JobField, in.JobName, owner, in.ComponentID))
		}
	}
	wg.Wait()
	if hostsErr != nil {
		return Resolution{}, hostsErr
	}
	return res, nil
}

// lookUpTarget asks CDP for the service and the virtual cluster (ResolveTarget without the
// owner check): a Target, or the problems that make it unusable. Their existence and status are
// asked every time; what cannot change while they live comes from a.Lookups when kept (unless
// in.Fresh), which saves two of the three rounds of calls.
func (a *Activities) lookUpTarget(ctx context.Context, in ResolveInput) (Resolution, error) {
	var res Resolution
	kept := !in.Fresh

	// Round 1: the service by name, and beside it the virtual clusters of the service id kept
	// for that name (a guess, checked against the listing).
	var (
		svc        cde.ServiceSummary
		err        error
		guess      string
		guessed    bool
		guessVc    cde.VcSummary
		guessVcErr error
		wg         sync.WaitGroup
	)
	if kept {
		guess, guessed = a.Lookups.serviceID(in.Service)
	}
	guessCtx, dropGuess := context.WithCancel(ctx)
	defer dropGuess()
	if guessed {
		wg.Go(func() { guessVc, guessVcErr = a.CDP.FindVc(guessCtx, guess, in.Cluster) })
	}
	svc, err = a.CDP.FindService(ctx, in.Service)
	if err != nil || svc.ClusterID != guess {
		dropGuess() // a wrong guess (the service was created again) is not waited for
	}
	wg.Wait()
	if amb, ok := errors.AsType[*cde.AmbiguousServiceError](err); ok {
		res.Problems = append(res.Problems, a.ambiguousService(ctx, in, amb))
		res.Ambiguous = true
		return res, nil
	}
	switch {
	case errors.Is(err, cde.ErrNotFound):
		res.Problems = append(res.Problems, descriptor.ServiceNotFound.At(in.ServiceField, fmt.Sprintf("no service named %q", in.Service)))
		res.Found = FoundAbsent
		return res, nil
	case err != nil:
		return res, classify("list CDE services", err)
	}
	switch svc.Status {
	case cde.ServiceStatusRunning:
	case cde.ServiceStatusDeleted:
		res.Problems = append(res.Problems, descriptor.ServiceRecentlyDeleted.At(in.ServiceField, fmt.Sprintf("service %q (%s)", in.Service, svc.ClusterID)))
		res.Found = svc.Status
		return res, nil
	default:
		res.Problems = append(res.Problems, descriptor.ServiceNotRunning.At(in.ServiceField, fmt.Sprintf("service %q is %s", in.Service, orUnknown(svc.Status))))
		res.Found = orUnknown(svc.Status)
		return res, nil
	}
	a.Lookups.keepServiceID(in.Service, svc.ClusterID)

	// Round 2, unless kept: describeService (the Knox host, the environment) and the virtual
	// clusters of the service (unless the guess was right), side by side.
	facts, known := serviceFacts{}, false
	if kept {
		facts, known = a.Lookups.serviceFacts(svc.ClusterID)
	}
	vc, vcErr := guessVc, guessVcErr
	var descErr error
	if !known {
		wg.Go(func() {
			var desc *cde.ServiceDescription
			if desc, descErr = a.CDP.DescribeService(ctx, svc.ClusterID); descErr == nil {
				facts = serviceFacts{environmentCRN: desc.EnvironmentCrn, clusterFqdn: desc.ClusterFqdn}
			}
		})
	}
	if !guessed || guess != svc.ClusterID {
		vc, vcErr = a.CDP.FindVc(ctx, svc.ClusterID, in.Cluster)
	}
	wg.Wait()
	if descErr != nil {
		return res, classify("describe CDE service "+in.Service, descErr)
	}
	if !known && facts.clusterFqdn != "" {
		a.Lookups.keepServiceFacts(svc.ClusterID, facts)
	}
	res.Target = Target{
		ServiceName:    in.Service,
		ServiceID:      svc.ClusterID,
		EnvironmentCRN: facts.environmentCRN,
		ClusterFqdn:    facts.clusterFqdn,
		ClusterName:    in.Cluster,
	}
	switch {
	case errors.Is(vcErr, cde.ErrNotFound):
		res.Problems = append(res.Problems, descriptor.ClusterNotFound.At(in.ClusterField, fmt.Sprintf("no virtual cluster named %q in service %q", in.Cluster, in.Service)))
		res.Found = FoundAbsent
		return res, nil
	case vcErr != nil:
		return res, classify("list virtual clusters of "+in.Service, vcErr)
	}
	switch vc.Status {
	case cde.VcStatusRunning:
	case cde.VcStatusDeleted:
		res.Problems = append(res.Problems, descriptor.ClusterRecentlyDeleted.At(in.ClusterField, fmt.Sprintf("virtual cluster %q (%s)", in.Cluster, vc.VcID)))
		res.Found = vc.Status
		return res, nil
	default:
		res.Problems = append(res.Problems, descriptor.ClusterNotActive.At(in.ClusterField, fmt.Sprintf("virtual cluster %q is %s", in.Cluster, orUnknown(vc.Status))))
		res.Found = orUnknown(vc.Status)
		return res, nil
	}

	// Round 3, unless kept: describeVc (the jobs API URL).
	cf, cfKnown := clusterFacts{}, false
	if kept {
		cf, cfKnown = a.Lookups.clusterFacts(svc.ClusterID, vc.VcID)
	}
	if !cfKnown {
		vcd, err := a.CDP.DescribeVc(ctx, svc.ClusterID, vc.VcID)
		if err != nil {
			return res, classify("describe virtual cluster "+in.Cluster, err)
		}
		cf = clusterFacts{apiURL: vcd.VcAPIURL, uiURL: cmp.Or(vcd.VcUIURL, vc.VcUIURL)}
	}
	res.Target.VcID = vc.VcID
	res.Target.VcAPIURL = cf.apiURL
	res.Target.VcUIURL = cf.uiURL
	if res.Target.VcAPIURL == "" || res.Target.ClusterFqdn == "" {
		return res, classify("describe virtual cluster "+in.Cluster,
			fmt.Errorf("CDP reports no jobs API URL or service host for a running virtual cluster: %w", cde.ErrMalformedResponse))
	}
	if !cfKnown {
		a.Lookups.keepClusterFacts(svc.ClusterID, vc.VcID, cf)
	}
	return res, nil
}

// jobOwner is the component that owns the job: the one the job records or, with the job gone,
// the one the manifest of its resources records. "" for none (a job the reference provisioner
// deployed, or made by hand, which is adopted).
func (a *Activities) jobOwner(ctx context.Context, t Target, name string) (string, error) {
	jobs, err := a.jobs(t)
	if err != nil {
		return "", err
	}
	job, err := jobs.GetJob(ctx, name)
	switch {
	case errors.Is(err, cde.ErrNotFound):
		return a.manifestOwner(ctx, jobs, t, descriptor.ManifestResourceName(name))
	case err != nil:
		return "", classify(fmt.Sprintf("get job %s in virtual cluster %s", name, t.ClusterName), err)
	}
	return JobOwner(job), nil
}

// manifestOwner is the owner the manifest of a job's resources records, "" for none.
func (a *Activities) manifestOwner(ctx context.Context, jobs *cde.JobsClient, t Target, resource string) (string, error) {
	own := a.readOwnManifest(ctx, jobs, SyncInput{Target: t, ManifestResource: resource})
	return own.m.Owner, own.err
}

// ServiceAmbiguous is the problem of a CDE service name that designates live services in
// several CDP environments: deploying to (or deleting from) one of them would be a guess.
var ServiceAmbiguous = descriptor.Rule{
	Message: "CDE Service name is ambiguous",
	Solution: "Ask the platform team to give the CDE services distinct names (or to delete the one no longer used): " +
		"the provisioner does not choose between CDP environments.",
}

// ambiguousService words the problem of an ambiguous service name, naming each candidate's
// environment by name and CRN. The CRNs come from describeService, asked side by side; one
// that cannot be described is named without its CRN (the problem stands either way).
func (a *Activities) ambiguousService(ctx context.Context, in ResolveInput, amb *cde.AmbiguousServiceError) descriptor.Problem {
	crns := make([]string, len(amb.Services))
	var wg sync.WaitGroup
	for i, s := range amb.Services {
		wg.Go(func() {
			if d, err := a.CDP.DescribeService(ctx, s.ClusterID); err == nil {
				crns[i] = d.EnvironmentCrn
			}
		})
	}
	wg.Wait()
	parts := make([]string, len(amb.Services))
	for i, s := range amb.Services {
		env := s.EnvironmentName
		if env == "" {
			env = "(unnamed)"
		}
		if crns[i] != "" {
			env += " (" + crns[i] + ")"
		}
		parts[i] = fmt.Sprintf("environment %s: service %s, %s", env, s.ClusterID, orUnknown(s.Status))
	}
	return ServiceAmbiguous.At(in.ServiceField, fmt.Sprintf("%d live CDE services are named %q, in different CDP environments: %s",
		len(amb.Services), in.Service, strings.Join(parts, "; ")))
}

func orUnknown(status string) string {
	if status == "" {
		return "in an unknown state"
	}
	return status
}

// IDBrokerHosts returns the private IPs of the idbroker instances of the service's datalake, for
// spark.cde.idBrokerHosts, or nothing when the lookup is switched off (CDE_IDBROKER_LOOKUP) or
// when the datalake has no idbroker instance group or no private IP in it (logged as a
// warning). A datalake missing for the environment, or CDP failing, is an error.
func (a *Activities) IDBrokerHosts(ctx context.Context, t Target) ([]string, error) {
	if !a.IDBrokerLookup {
		return nil, nil
	}
	if hosts, ok := a.Lookups.idBrokerHosts(t.EnvironmentCRN); ok {
		return hosts, nil
	}
	hosts, err := a.CDP.IDBrokerHosts(ctx, t.EnvironmentCRN)
	if err == nil {
		a.Lookups.keepIDBrokerHosts(t.EnvironmentCRN, hosts)
	}
	if errors.Is(err, cde.ErrNoIDBroker) {
		// As the reference does: the job is deployed without the conf (Spark then reaches S3
		// without the idbroker), which is not worth failing a provision over, but is worth a
		// warning: jobs that need the idbroker's credentials will fail to read their data.
		activity.GetLogger(ctx).Warn("No idbroker host in the environment's datalake: the job is deployed without "+ConfIDBrokerHosts,
			"service", t.ServiceName, "environmentCrn", t.EnvironmentCRN, "reason", err.Error())
		return nil, nil
	}
	if err != nil {
		return nil, classify(fmt.Sprintf("idbroker hosts of the datalake of service %s (set CDE_IDBROKER_LOOKUP=false to skip)", t.ServiceName), err)
	}
	return hosts, nil
}
