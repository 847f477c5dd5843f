package cdesim

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrNotFound is returned by state accessors for an unknown service, virtual
// cluster, job or resource.
var ErrNotFound = errors.New("cdesim: not found")

// ServiceInfo is a snapshot of one CDE service.
type ServiceInfo struct {
	Name, ClusterID, CRN            string
	EnvironmentName, EnvironmentCRN string
	Status                          string
	// ClusterFqdn is the Knox host, 127.0.0.1:<port>.
	ClusterFqdn string
	// TokenURL is the full Knox token endpoint.
	TokenURL string
	VCs      []VCInfo
}

// VCInfo is a snapshot of one virtual cluster.
type VCInfo struct {
	Name, VCID, ClusterID, Status string
	// APIURL is the vcApiUrl, https://127.0.0.1:<port>/dex/api/v1.
	APIURL string
}

const (
	knoxTokenPath = "/gateway/authtkn/knoxtoken/api/v1/token"
	vcAPIPrefix   = "/dex/api/v1"
)

func (s *Sim) addDatalakeLocked(d DatalakeSeed) {
	dl := &datalake{
		name: d.Name, crn: d.CRN, envName: d.EnvironmentName, envCRN: d.EnvironmentCRN,
		status: d.Status, cloud: d.CloudPlatform, created: s.now(),
	}
	if dl.crn == "" {
		dl.crn = fmt.Sprintf("crn:cdp:datalake:us-west-1:%s:datalake:%s", s.tenant, randomHex(8))
	}
	if dl.status == "" {
		dl.status = "RUNNING"
	}
	if dl.cloud == "" {
		dl.cloud = "AWS"
	}
	for _, g := range d.InstanceGroups {
		g.Instances = slices.Clone(g.Instances)
		for i := range g.Instances {
			if g.Instances[i].ID == "" {
				g.Instances[i].ID = "i-" + randomHex(8)
			}
			if g.Instances[i].State == "" {
				g.Instances[i].State = "HEALTHY"
			}
		}
		dl.groups = append(dl.groups, g)
	}
	s.datalakes = append(s.datalakes, dl)
}

// AddDatalake adds a datalake at run time.
func (s *Sim) AddDatalake(d DatalakeSeed) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addDatalakeLocked(d)
}

// AddService adds a service (and its virtual clusters) at run time, starting
// their listeners, and returns its snapshot.
func (s *Sim) AddService(ctx context.Context, sv ServiceSeed) (ServiceInfo, error) {
	if err := (Seed{Services: []ServiceSeed{sv}}).Validate(); err != nil {
		return ServiceInfo{}, err
	}
	return s.addService(ctx, sv)
}

// errClosed is returned when adding hosts to a stopped simulator.
var errClosed = errors.New("cdesim: simulator is closed")

func (s *Sim) addService(ctx context.Context, sv ServiceSeed) (ServiceInfo, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ServiceInfo{}, errClosed
	}
	if sv.ClusterID != "" {
		for _, o := range s.services {
			if o.clusterID == sv.ClusterID {
				s.mu.Unlock()
				return ServiceInfo{}, fmt.Errorf("service %q: clusterId %q already exists", sv.Name, sv.ClusterID)
			}
		}
	}
	s.mu.Unlock()

	ln, err := s.listen(ctx, s.nextListenPort())
	if err != nil {
		return ServiceInfo{}, fmt.Errorf("service %q: %w", sv.Name, err)
	}
	svc := &service{
		name: sv.Name, clusterID: sv.ClusterID, crn: sv.CRN,
		envName: sv.EnvironmentName, envCRN: sv.EnvironmentCRN,
		status: sv.Status, cloud: sv.CloudPlatform, creator: sv.CreatorEmail,
		fqdn: ln.Addr().String(), enabled: s.now(),
	}
	if svc.clusterID == "" {
		svc.clusterID = "cluster-" + randomHex(4)
	}
	if svc.crn == "" {
		svc.crn = fmt.Sprintf("crn:cdp:de:us-west-1:%s:service:%s", s.tenant, svc.clusterID)
	}
	if svc.envName == "" {
		svc.envName = "env-" + randomHex(3)
	}
	if svc.envCRN == "" {
		svc.envCRN = fmt.Sprintf("crn:cdp:environments:us-west-1:%s:environment:%s", s.tenant, svc.envName)
	}
	if svc.status == "" {
		svc.status = StatusServiceRunning
	}
	if svc.status == StatusServiceDeleted {
		svc.deletedAt = svc.enabled
	}
	if svc.cloud == "" {
		svc.cloud = "AWS"
	}
	if svc.creator == "" {
		svc.creator = "cdesim@example.com"
	}
	s.mu.Lock()
	s.services = append(s.services, svc)
	s.mu.Unlock()
	s.serve(ln, "knox:"+svc.name, s.knoxHandler(svc))

	for _, v := range sv.VirtualClusters {
		if _, err := s.addVC(ctx, svc, v); err != nil {
			return ServiceInfo{}, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return svc.info(), nil
}

// AddVC adds a virtual cluster to the service with the given clusterId.
func (s *Sim) AddVC(ctx context.Context, clusterID string, v VCSeed) (VCInfo, error) {
	s.mu.Lock()
	svc := s.serviceByIDLocked(clusterID)
	s.mu.Unlock()
	if svc == nil {
		return VCInfo{}, fmt.Errorf("service %q: %w", clusterID, ErrNotFound)
	}
	if v.Name == "" {
		return VCInfo{}, errors.New("virtual cluster name is required")
	}
	return s.addVC(ctx, svc, v)
}

func (s *Sim) addVC(ctx context.Context, svc *service, v VCSeed) (VCInfo, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return VCInfo{}, errClosed
	}
	if v.VCID != "" && s.vcs[v.VCID] != nil {
		s.mu.Unlock()
		return VCInfo{}, fmt.Errorf("virtual cluster %q: vcId %q already exists", v.Name, v.VCID)
	}
	s.mu.Unlock()
	ln, err := s.listen(ctx, s.nextListenPort())
	if err != nil {
		return VCInfo{}, fmt.Errorf("virtual cluster %q: %w", v.Name, err)
	}
	c := &vc{
		svc: svc, name: v.Name, id: v.VCID, status: v.Status,
		sparkVersion: v.SparkVersion, tier: v.VCTier,
		apiURL:    "https://" + ln.Addr().String() + vcAPIPrefix,
		created:   s.now(),
		jobs:      map[string]*job{},
		resources: map[string]*resource{},
	}
	if c.id == "" {
		c.id = "dex-app-" + randomHex(4)
	}
	if c.status == "" {
		c.status = StatusVCRunning
	}
	if c.sparkVersion == "" {
		c.sparkVersion = "SPARK3"
	}
	if c.tier == "" {
		c.tier = "CORE"
	}
	s.mu.Lock()
	s.vcs[c.id] = c
	svc.vcs = append(svc.vcs, c)
	info := c.info()
	s.mu.Unlock()
	s.serve(ln, "vc:"+c.id, s.vcHandler(c))
	return info, nil
}

func (svc *service) info() ServiceInfo {
	in := ServiceInfo{
		Name: svc.name, ClusterID: svc.clusterID, CRN: svc.crn,
		EnvironmentName: svc.envName, EnvironmentCRN: svc.envCRN,
		Status: svc.status, ClusterFqdn: svc.fqdn,
		TokenURL: "https://" + svc.fqdn + knoxTokenPath,
	}
	for _, c := range svc.vcs {
		in.VCs = append(in.VCs, c.info())
	}
	return in
}

func (c *vc) info() VCInfo {
	return VCInfo{Name: c.name, VCID: c.id, ClusterID: c.svc.clusterID, Status: c.status, APIURL: c.apiURL}
}

func (s *Sim) serviceByIDLocked(id string) *service {
	for _, sv := range s.services {
		if sv.clusterID == id {
			return sv
		}
	}
	return nil
}

// Services returns a snapshot of every service, in creation order.
func (s *Sim) Services() []ServiceInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ServiceInfo, 0, len(s.services))
	for _, sv := range s.services {
		out = append(out, sv.info())
	}
	return out
}

// Service returns the service named name, preferring one that is not
// deleted when a deleted one has the same name.
func (s *Sim) Service(name string) (ServiceInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var found *service
	for _, sv := range s.services {
		if sv.name == name && (found == nil || found.status == StatusServiceDeleted) {
			found = sv
		}
	}
	if found == nil {
		return ServiceInfo{}, false
	}
	return found.info(), true
}

// ServicesNamed returns every service named name, deleted ones included, in
// creation order. Services of different CDP environments may share a name
// (CDP allows it), so a name alone may designate several.
func (s *Sim) ServicesNamed(name string) []ServiceInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []ServiceInfo
	for _, sv := range s.services {
		if sv.name == name {
			out = append(out, sv.info())
		}
	}
	return out
}

// VC returns the virtual cluster named vcName of the live service named
// serviceName.
func (s *Sim) VC(serviceName, vcName string) (VCInfo, bool) {
	svc, ok := s.Service(serviceName)
	if !ok {
		return VCInfo{}, false
	}
	var found *VCInfo
	for i, c := range svc.VCs {
		if c.Name == vcName && (found == nil || found.Status == StatusVCDeleted) {
			found = &svc.VCs[i]
		}
	}
	if found == nil {
		return VCInfo{}, false
	}
	return *found, true
}

// SetServiceStatus sets the status of the service with clusterId id.
func (s *Sim) SetServiceStatus(clusterID, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := s.serviceByIDLocked(clusterID)
	if sv == nil {
		return fmt.Errorf("service %q: %w", clusterID, ErrNotFound)
	}
	if status == StatusServiceDeleted && sv.status != status {
		sv.deletedAt = s.now()
	}
	sv.status = status
	return nil
}

// SetVCStatus sets the status of the virtual cluster vcID.
func (s *Sim) SetVCStatus(vcID, status string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.vcs[vcID]
	if c == nil {
		return fmt.Errorf("virtual cluster %q: %w", vcID, ErrNotFound)
	}
	c.status = status
	return nil
}

func (s *Sim) vcLocked(vcID string) (*vc, error) {
	c := s.vcs[vcID]
	if c == nil {
		return nil, fmt.Errorf("virtual cluster %q: %w", vcID, ErrNotFound)
	}
	return c, nil
}

// IssueToken issues a Knox token of the service clusterID for user, as its
// token endpoint would, without HTTP.
func (s *Sim) IssueToken(clusterID, user string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := s.serviceByIDLocked(clusterID)
	if sv == nil {
		return "", fmt.Errorf("service %q: %w", clusterID, ErrNotFound)
	}
	tok, _ := s.issueTokenLocked(sv, user, s.opts.TokenTTL)
	return tok, nil
}

func validName(n string) bool {
	return n != "" && !strings.ContainsAny(n, "/?#% \t\r\n")
}
