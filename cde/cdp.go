package cde

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// DefaultCDPEndpoint is the public CDP control plane of region us-west-1.
const DefaultCDPEndpoint = "https://api.us-west-1.cdp.cloudera.com"

// CDPConfig configures a CDPClient. Its String, GoString and LogValue
// redact PrivateKey.
type CDPConfig struct {
	Endpoint    string       // base URL, https only; DefaultCDPEndpoint when empty
	AccessKeyID string       // CDP_ACCESS_KEY_ID
	PrivateKey  string       // CDP_PRIVATE_KEY: Ed25519 base64 seed or RSA PKCS#8 PEM
	HTTPClient  *http.Client // nil: a client on http.DefaultTransport (system roots + SSL_CERT_FILE)
	UserAgent   string       // optional

	// Retry repeats a request that failed transiently; the zero value is
	// the default policy, NoRetry turns it off. Only the read operations
	// are repeated (see cdpReadOperations).
	Retry RetryPolicy

	// Now is the clock used for x-altus-date and Retry-After dates; nil
	// means time.Now. Tests inject a fixed one.
	Now func() time.Time
}

// String shows the configuration with the private key redacted.
func (c CDPConfig) String() string {
	return fmt.Sprintf("cde.CDPConfig{Endpoint: %q, AccessKeyID: %q, PrivateKey: %s}", c.Endpoint, c.AccessKeyID, redactedIfSet(c.PrivateKey))
}

// GoString keeps %#v from printing the private key.
func (c CDPConfig) GoString() string { return c.String() }

// Format prints the redacted String form for every verb, so that no verb,
// not even a wrong one, makes fmt print the fields.
func (c CDPConfig) Format(f fmt.State, verb rune) { formatRedacted(f, verb, c.String()) }

// LogValue redacts the private key in slog output.
func (c CDPConfig) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("endpoint", c.Endpoint),
		slog.String("accessKeyID", c.AccessKeyID),
		slog.String("privateKey", redactedIfSet(c.PrivateKey)),
	)
}

func redactedIfSet(s string) string {
	if s == "" {
		return `""`
	}
	return redacted
}

// CDPClient calls the signed CDP control plane: the DE service ("de") and
// the datalake service. It is safe for concurrent use.
type CDPClient struct {
	endpoint  string
	signer    *Signer
	hc        *http.Client
	userAgent string
	now       func() time.Time
	retry     RetryPolicy
}

// cdpReadOperations are the control-plane operations that only read: CDP's
// API is POST for everything, describe and list included, so the method
// cannot tell. These, and only these, are sent again after a transient
// failure; an operation added later is sent once until it is listed here.
var cdpReadOperations = map[string]bool{
	"de/listServices": true, "de/describeService": true, "de/listVcs": true, "de/describeVc": true,
	"datalake/listDatalakes": true, "datalake/describeDatalake": true,
}

// NewCDPClient validates cfg and parses the private key. The error never
// contains the key.
func NewCDPClient(cfg CDPConfig) (*CDPClient, error) {
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = DefaultCDPEndpoint
	}
	u, err := parseHTTPSBase("CDP endpoint", endpoint)
	if err != nil {
		return nil, err
	}
	signer, err := NewSigner(cfg.AccessKeyID, cfg.PrivateKey)
	if err != nil {
		return nil, err
	}
	c := &CDPClient{
		endpoint:  u.String(),
		signer:    signer,
		hc:        defaultHTTPClient(cfg.HTTPClient),
		userAgent: cfg.UserAgent,
		now:       cfg.Now,
		retry:     cfg.Retry,
	}
	if c.userAgent == "" {
		c.userAgent = "cde-spark-provisioner"
	}
	if c.now == nil {
		c.now = time.Now
	}
	return c, nil
}

// String names the client by its endpoint.
func (c *CDPClient) String() string { return "cde.CDPClient{" + c.endpoint + "}" }

// GoString keeps %#v from walking into the signer.
func (c *CDPClient) GoString() string { return c.String() }

// Format prints the redacted String form for every verb, so that no verb,
// not even a wrong one, makes fmt print the fields.
func (c *CDPClient) Format(f fmt.State, verb rune) { formatRedacted(f, verb, c.String()) }

// call POSTs in as JSON to /api/v1/{service}/{op} and decodes a 200 answer
// into out. Every other status becomes an *APIError. A read operation
// (cdpReadOperations) is sent again, signed anew, after a transient failure
// (c.retry).
func (c *CDPClient) call(ctx context.Context, service, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("cde: %s: encode request: %w", op, err)
	}
	path := "/api/v1/" + service + "/" + op
	return c.retry.run(ctx, cdpReadOperations[service+"/"+op], func() error {
		return c.send(ctx, op, path, body, out)
	}, nil)
}

// send is one attempt of call.
func (c *CDPClient) send(ctx context.Context, op, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint+path, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("cde: %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	now := c.now()
	if err := c.signer.Sign(req, now); err != nil {
		return fmt.Errorf("cde: %s: %w", op, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cde: %s: %w", op, err)
	}
	defer drain(resp.Body)
	respBody, err := readBody(resp)
	if err != nil {
		return fmt.Errorf("cde: %s: read response: %w", op, err)
	}
	// The specs give every operation 200 and "default: Error"; any 2xx is
	// accepted to be tolerant.
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// x-altus-auth replays until the date skew runs out: keep it, and
		// each of its halves, out of an echoed message.
		auth := req.Header.Get("x-altus-auth")
		params, sig, _ := strings.Cut(auth, ".")
		return newAPIError(op, http.MethodPost, req.URL.EscapedPath(), resp, respBody, c.now(), auth, sig, params)
	}
	if err := decodeJSON(respBody, out); err != nil {
		return fmt.Errorf("cde: %s: %w", op, err)
	}
	return nil
}

// ListServices lists DE services. removeDeleted false also returns services
// in ClusterDeletionCompleted, so that a recently deleted service is seen as
// such rather than as missing.
func (c *CDPClient) ListServices(ctx context.Context, removeDeleted bool) ([]ServiceSummary, error) {
	var out struct {
		Services []ServiceSummary `json:"services"`
	}
	err := c.call(ctx, "de", "listServices", map[string]bool{"removeDeleted": removeDeleted}, &out)
	return out.Services, err
}

// DescribeService describes the DE service clusterID (its ClusterFqdn is the
// Knox token host, its EnvironmentCrn selects the datalake).
func (c *CDPClient) DescribeService(ctx context.Context, clusterID string) (*ServiceDescription, error) {
	var out struct {
		Service *ServiceDescription `json:"service"`
	}
	if err := c.call(ctx, "de", "describeService", map[string]string{"clusterId": clusterID}, &out); err != nil {
		return nil, err
	}
	if out.Service == nil {
		return nil, errMissingObject("describeService", "service")
	}
	return out.Service, nil
}

// ListVcs lists the virtual clusters of the DE service clusterID.
func (c *CDPClient) ListVcs(ctx context.Context, clusterID string) ([]VcSummary, error) {
	var out struct {
		Vcs []VcSummary `json:"vcs"`
	}
	err := c.call(ctx, "de", "listVcs", map[string]string{"clusterId": clusterID}, &out)
	return out.Vcs, err
}

// DescribeVc describes a virtual cluster; VcAPIURL is the jobs API base.
func (c *CDPClient) DescribeVc(ctx context.Context, clusterID, vcID string) (*VcDescription, error) {
	var out struct {
		Vc *VcDescription `json:"vc"`
	}
	if err := c.call(ctx, "de", "describeVc", map[string]string{"clusterId": clusterID, "vcId": vcID}, &out); err != nil {
		return nil, err
	}
	if out.Vc == nil {
		return nil, errMissingObject("describeVc", "vc")
	}
	return out.Vc, nil
}

// ListDatalakes lists datalakes, optionally filtered.
func (c *CDPClient) ListDatalakes(ctx context.Context, in ListDatalakesRequest) ([]Datalake, error) {
	var out struct {
		Datalakes []Datalake `json:"datalakes"`
	}
	err := c.call(ctx, "datalake", "listDatalakes", in, &out)
	return out.Datalakes, err
}

// DescribeDatalake describes a datalake by name or CRN.
func (c *CDPClient) DescribeDatalake(ctx context.Context, datalakeName string) (*DatalakeDetails, error) {
	var out struct {
		Datalake *DatalakeDetails `json:"datalake"`
	}
	if err := c.call(ctx, "datalake", "describeDatalake", map[string]string{"datalakeName": datalakeName}, &out); err != nil {
		return nil, err
	}
	if out.Datalake == nil {
		return nil, errMissingObject("describeDatalake", "datalake")
	}
	return out.Datalake, nil
}

func errMissingObject(op, field string) error {
	return fmt.Errorf("cde: %s: response has no %q object: %w", op, field, ErrMalformedResponse)
}

// ---- Lookups by name

// FindService returns the DE service with exactly this name. It lists with
// removeDeleted=false; when several services share the name in one CDP
// environment it prefers a running one, then one in any other state, then a
// deleted one, so a recently deleted service is reported with
// ServiceStatusDeleted only when no live one exists. When services that are
// not deleted share the name in more than one environment, picking one would
// deploy to (or delete from) an arbitrary environment: the error is then an
// *AmbiguousServiceError listing them (it matches ErrAmbiguous). No match
// wraps ErrNotFound.
func (c *CDPClient) FindService(ctx context.Context, name string) (ServiceSummary, error) {
	services, err := c.ListServices(ctx, false)
	if err != nil {
		return ServiceSummary{}, err
	}
	best, found := ServiceSummary{}, false
	var live []ServiceSummary
	envs := map[string]bool{}
	for _, s := range services {
		if s.Name != name {
			continue
		}
		if s.Status != ServiceStatusDeleted {
			live = append(live, s)
			// A listing without environmentName (a required field) counts as one
			// environment: nothing says the services are in different ones.
			envs[s.EnvironmentName] = true
		}
		if !found || statusRank(s.Status, ServiceStatusRunning, ServiceStatusDeleted) < statusRank(best.Status, ServiceStatusRunning, ServiceStatusDeleted) {
			best, found = s, true
		}
	}
	if !found {
		return ServiceSummary{}, fmt.Errorf("cde: no CDE service named %q: %w", name, ErrNotFound)
	}
	if len(envs) > 1 {
		return ServiceSummary{}, &AmbiguousServiceError{Name: name, Services: live}
	}
	return best, nil
}

// ErrAmbiguous marks a name that designates several live objects, so that
// none can be chosen (see AmbiguousServiceError).
var ErrAmbiguous = errors.New("ambiguous name")

// AmbiguousServiceError is FindService's answer when DE services that are
// not deleted share the name in several CDP environments. It is permanent: the
// same listing gets the same answer until the services are renamed or deleted.
type AmbiguousServiceError struct {
	Name string
	// Services are the matching services that are not deleted, in the order
	// CDP listed them.
	Services []ServiceSummary
}

// Error names every candidate with its environment, cluster id and status.
func (e *AmbiguousServiceError) Error() string {
	parts := make([]string, len(e.Services))
	for i, s := range e.Services {
		parts[i] = fmt.Sprintf("%s in environment %s (%s)", s.ClusterID, orUnnamed(s.EnvironmentName), s.Status)
	}
	return fmt.Sprintf("cde: %d CDE services named %q in different environments: %s", len(e.Services), e.Name, strings.Join(parts, ", "))
}

// Is makes errors.Is(err, ErrAmbiguous) true.
func (e *AmbiguousServiceError) Is(target error) bool { return target == ErrAmbiguous }

func orUnnamed(s string) string {
	if s == "" {
		return "(unnamed)"
	}
	return s
}

// FindVc returns the virtual cluster with exactly this name in the service
// clusterID, with the same preference as FindService. No match wraps
// ErrNotFound.
func (c *CDPClient) FindVc(ctx context.Context, clusterID, vcName string) (VcSummary, error) {
	vcs, err := c.ListVcs(ctx, clusterID)
	if err != nil {
		return VcSummary{}, err
	}
	best, found := VcSummary{}, false
	for _, v := range vcs {
		if v.VcName != vcName {
			continue
		}
		if !found || statusRank(v.Status, VcStatusRunning, VcStatusDeleted) < statusRank(best.Status, VcStatusRunning, VcStatusDeleted) {
			best, found = v, true
		}
	}
	if !found {
		return VcSummary{}, fmt.Errorf("cde: no CDE virtual cluster named %q in service %q: %w", vcName, clusterID, ErrNotFound)
	}
	return best, nil
}

// datalakeStatusRunning is the only datalake status relied upon, as a
// preference (the enum is not documented).
const datalakeStatusRunning = "RUNNING"

// statusRank orders candidates sharing a name: running first, deleted last.
func statusRank(status, running, deleted string) int {
	switch status {
	case running:
		return 0
	case deleted:
		return 2
	}
	return 1
}

// IDBrokerHosts returns the private IPs of the idbroker hosts of the
// datalake of environmentCrn (the DE service's EnvironmentCrn), in the
// order the API lists them, for spark.cde.idBrokerHosts. A datalake without
// an "idbroker" group or without any private IP in it wraps ErrNoIDBroker;
// no datalake for the environment wraps ErrNotFound.
func (c *CDPClient) IDBrokerHosts(ctx context.Context, environmentCrn string) ([]string, error) {
	if environmentCrn == "" {
		return nil, errors.New("cde: idbroker lookup: the DE service has no environmentCrn")
	}
	lakes, err := c.ListDatalakes(ctx, ListDatalakesRequest{})
	if err != nil {
		return nil, err
	}
	// An environment normally has one datalake; should a second one be
	// listed (e.g. during a resize) the RUNNING one wins, else the first.
	var lake *Datalake
	for i := range lakes {
		if lakes[i].EnvironmentCrn != environmentCrn {
			continue
		}
		if lake == nil || (lake.Status != datalakeStatusRunning && lakes[i].Status == datalakeStatusRunning) {
			lake = &lakes[i]
		}
	}
	if lake == nil {
		return nil, fmt.Errorf("cde: no datalake matches the environment crn %q: %w", environmentCrn, ErrNotFound)
	}
	name := lake.DatalakeName
	if name == "" {
		name = lake.Crn // describeDatalake accepts a name or a CRN
	}
	details, err := c.DescribeDatalake(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, g := range details.InstanceGroups {
		if g.Name != IDBrokerInstanceGroup {
			continue
		}
		var ips []string
		for _, in := range g.Instances {
			if in.PrivateIP != "" {
				ips = append(ips, in.PrivateIP)
			}
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("cde: datalake %q: the %q instance group has no instance with a private IP: %w", name, IDBrokerInstanceGroup, ErrNoIDBroker)
		}
		return ips, nil
	}
	return nil, fmt.Errorf("cde: datalake %q has no %q instance group: %w", name, IDBrokerInstanceGroup, ErrNoIDBroker)
}
