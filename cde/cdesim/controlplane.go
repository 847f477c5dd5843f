package cdesim

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

const (
	authEd25519 = "ed25519v1"
	authRSA     = "rsav1"

	headerAuth      = "x-altus-auth"
	headerDate      = "x-altus-date"
	headerRequestID = "x-altus-request-id"
)

// Date layouts of x-altus-date: Go/Python zero-pad the day, Java does not.
var altusDateLayouts = []string{"Mon, 02 Jan 2006 15:04:05 GMT", "Mon, 2 Jan 2006 15:04:05 GMT"}

// cdpError is the control plane's Error object.
type cdpError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeCDPError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, cdpError{Code: code, Message: msg})
}

func codeForStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "FORBIDDEN"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ALREADY_EXISTS"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusServiceUnavailable:
		return "SERVICE_UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	return "UNKNOWN"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"message":"encode response"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decodeB64URL accepts URL-safe base64 with or without padding.
func decodeB64URL(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// verifySignature checks x-altus-auth and x-altus-date per reference §1.3.
// It returns a message safe to show the caller (never key material).
func (s *Sim) verifySignature(r *http.Request) error {
	auth := r.Header.Get(headerAuth)
	date := r.Header.Get(headerDate)
	if auth == "" {
		return errors.New("missing x-altus-auth header")
	}
	if date == "" {
		return errors.New("missing x-altus-date header")
	}
	paramsB64, sigB64, ok := strings.Cut(auth, ".")
	if !ok {
		return errors.New("malformed x-altus-auth header")
	}
	paramsJSON, err := decodeB64URL(paramsB64)
	if err != nil {
		return errors.New("malformed x-altus-auth header: auth params are not base64url")
	}
	sig, err := decodeB64URL(sigB64)
	if err != nil {
		return errors.New("malformed x-altus-auth header: signature is not base64url")
	}
	var params struct {
		AccessKeyID string `json:"access_key_id"`
		AuthMethod  string `json:"auth_method"`
	}
	if err := json.Unmarshal(paramsJSON, &params); err != nil || params.AccessKeyID == "" || params.AuthMethod == "" {
		return errors.New("malformed x-altus-auth header: auth params must hold access_key_id and auth_method")
	}
	s.mu.Lock()
	key, known := s.keys[params.AccessKeyID]
	s.mu.Unlock()
	if !known {
		return fmt.Errorf("unknown access key id %q", params.AccessKeyID)
	}
	if params.AuthMethod != key.method {
		return fmt.Errorf("auth method %q does not match the access key (%s)", params.AuthMethod, key.method)
	}
	var t time.Time
	for _, layout := range altusDateLayouts {
		if t, err = time.Parse(layout, date); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("x-altus-date %q is not an RFC 1123 GMT date", date)
	}
	if limit := s.opts.MaxClockSkew; limit > 0 {
		if d := s.now().Sub(t); d > limit || d < -limit {
			return fmt.Errorf("x-altus-date %q is more than %s away from the server time", date, limit)
		}
	}
	paths := []string{r.URL.EscapedPath()}
	if r.URL.RawQuery != "" {
		paths = append(paths, r.URL.EscapedPath()+"?"+r.URL.RawQuery)
	}
	for _, p := range paths {
		msg := r.Method + "\n" + r.Header.Get("Content-Type") + "\n" + date + "\n" + p + "\n" + params.AuthMethod
		if key.verify([]byte(msg), sig) {
			return nil
		}
	}
	return errors.New("request signature does not match")
}

func (s *Sim) serveControlPlane(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(headerRequestID, newUUID())
	if !strings.HasPrefix(r.URL.Path, "/api/v1/") {
		// Not a CDP API path (e.g. a Knox or jobs-API path sent to the wrong host).
		writeCDPError(w, http.StatusNotFound, "NOT_FOUND", "unknown path "+r.URL.Path)
		return
	}
	if err := s.verifySignature(r); err != nil {
		writeCDPError(w, s.opts.AuthFailureStatus, codeForStatus(s.opts.AuthFailureStatus), err.Error())
		return
	}
	op := strings.TrimPrefix(r.URL.Path, "/api/v1/")
	handlers := map[string]func(http.ResponseWriter, []byte){
		"de/listServices":           s.listServices,
		"de/describeService":        s.describeService,
		"de/listVcs":                s.listVcs,
		"de/describeVc":             s.describeVc,
		"datalake/listDatalakes":    s.listDatalakes,
		"datalake/describeDatalake": s.describeDatalake,
	}
	h, ok := handlers[op]
	if !ok {
		writeCDPError(w, http.StatusNotFound, "NOT_FOUND", "unknown operation "+op)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeCDPError(w, http.StatusMethodNotAllowed, "INVALID_ARGUMENT", "operations accept only POST")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeCDPError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "read request body")
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	h(w, body)
}

func decodeCDP(w http.ResponseWriter, body []byte, v any) bool {
	if err := json.Unmarshal(body, v); err != nil {
		writeCDPError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "malformed request body: "+err.Error())
		return false
	}
	return true
}

type serviceSummary struct {
	Name            string `json:"name"`
	ClusterID       string `json:"clusterId"`
	EnvironmentName string `json:"environmentName"`
	Status          string `json:"status"`
	CreatorEmail    string `json:"creatorEmail,omitempty"`
	EnablingTime    string `json:"enablingTime,omitempty"`
}

type serviceResources struct {
	InstanceType     string `json:"instance_type"`
	MinInstances     string `json:"min_instances"`
	MaxInstances     string `json:"max_instances"`
	InitialInstances string `json:"initial_instances"`
	RootVolSize      string `json:"root_vol_size"`
}

type serviceDescription struct {
	Name                  string           `json:"name"`
	ClusterID             string           `json:"clusterId"`
	EnvironmentName       string           `json:"environmentName"`
	EnvironmentCrn        string           `json:"environmentCrn"`
	TenantID              string           `json:"tenantId"`
	Resources             serviceResources `json:"resources"`
	Status                string           `json:"status"`
	CreatorEmail          string           `json:"creatorEmail"`
	CreatorCrn            string           `json:"creatorCrn"`
	EnablingTime          string           `json:"enablingTime"`
	ClusterFqdn           string           `json:"clusterFqdn"`
	CloudPlatform         string           `json:"cloudPlatform"`
	ChartValueOverrides   []any            `json:"chartValueOverrides"`
	PrivateClusterEnabled bool             `json:"privateClusterEnabled"`
	PublicEndpointEnabled bool             `json:"publicEndpointEnabled"`
	SsdUsed               bool             `json:"ssdUsed"`
}

type vcSummary struct {
	VcID         string `json:"vcId"`
	VcName       string `json:"vcName"`
	ClusterID    string `json:"clusterId"`
	Status       string `json:"status"`
	VcUIURL      string `json:"VcUiUrl"`
	CreatorEmail string `json:"creatorEmail"`
	CreatorName  string `json:"creatorName"`
}

type vcDescription struct {
	VcID                string            `json:"vcId"`
	VcName              string            `json:"vcName"`
	ClusterID           string            `json:"clusterId"`
	Status              string            `json:"status"`
	Resources           map[string]string `json:"resources"`
	CreatorEmail        string            `json:"creatorEmail"`
	CreatorName         string            `json:"creatorName"`
	VcAPIURL            string            `json:"vcApiUrl"`
	VcUIURL             string            `json:"VcUiUrl"`
	HistoryServerURL    string            `json:"historyServerUrl"`
	CreationTime        string            `json:"creationTime"`
	SparkVersion        string            `json:"sparkVersion"`
	VcTier              string            `json:"vcTier"`
	ChartValueOverrides []any             `json:"chartValueOverrides"`
	SparkConfigs        map[string]string `json:"sparkConfigs"`
}

func (s *Sim) listServices(w http.ResponseWriter, body []byte) {
	var req struct {
		RemoveDeleted bool `json:"removeDeleted"`
	}
	if !decodeCDP(w, body, &req) {
		return
	}
	s.mu.Lock()
	out := []serviceSummary{}
	now, keep := s.now(), s.opts.DeletedServiceRetention
	for _, sv := range s.services {
		if req.RemoveDeleted && sv.status == StatusServiceDeleted && (keep < 0 || now.Sub(sv.deletedAt) >= keep) {
			continue
		}
		out = append(out, serviceSummary{
			Name: sv.name, ClusterID: sv.clusterID, EnvironmentName: sv.envName,
			Status: sv.status, CreatorEmail: sv.creator, EnablingTime: rfc3339(sv.enabled),
		})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"services": out})
}

// requireService decodes clusterId and finds the service, writing the error
// response itself when it cannot.
func (s *Sim) requireService(w http.ResponseWriter, clusterID string) *service {
	if clusterID == "" {
		writeCDPError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "clusterId is required")
		return nil
	}
	sv := s.serviceByIDLocked(clusterID)
	if sv == nil {
		writeCDPError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("Cluster %s not found", clusterID))
	}
	return sv
}

func (s *Sim) describeService(w http.ResponseWriter, body []byte) {
	var req struct {
		ClusterID string `json:"clusterId"`
	}
	if !decodeCDP(w, body, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := s.requireService(w, req.ClusterID)
	if sv == nil {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"service": serviceDescription{
		Name: sv.name, ClusterID: sv.clusterID, EnvironmentName: sv.envName,
		EnvironmentCrn: sv.envCRN, TenantID: s.tenant,
		Resources: serviceResources{InstanceType: "m5.2xlarge", MinInstances: "0", MaxInstances: "10",
			InitialInstances: "1", RootVolSize: "100"},
		Status: sv.status, CreatorEmail: sv.creator,
		CreatorCrn:   fmt.Sprintf("crn:altus:iam:us-west-1:%s:user:cdesim", s.tenant),
		EnablingTime: rfc3339(sv.enabled), ClusterFqdn: sv.fqdn, CloudPlatform: sv.cloud,
		ChartValueOverrides: []any{}, PublicEndpointEnabled: true,
	}})
}

func (s *Sim) listVcs(w http.ResponseWriter, body []byte) {
	var req struct {
		ClusterID string `json:"clusterId"`
	}
	if !decodeCDP(w, body, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sv := s.requireService(w, req.ClusterID)
	if sv == nil {
		return
	}
	if len(sv.vcs) == 0 && s.opts.EmptyListVcsStatus != 0 {
		st := s.opts.EmptyListVcsStatus
		writeCDPError(w, st, codeForStatus(st), "no virtual clusters in "+sv.clusterID)
		return
	}
	out := []vcSummary{}
	for _, c := range sv.vcs {
		out = append(out, vcSummary{
			VcID: c.id, VcName: c.name, ClusterID: sv.clusterID, Status: c.status,
			VcUIURL: strings.TrimSuffix(c.apiURL, vcAPIPrefix) + "/dex/ui/", CreatorEmail: sv.creator,
			CreatorName: "cdesim",
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"vcs": out})
}

func (s *Sim) describeVc(w http.ResponseWriter, body []byte) {
	var req struct {
		ClusterID string `json:"clusterId"`
		VcID      string `json:"vcId"`
	}
	if !decodeCDP(w, body, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.VcID == "" {
		writeCDPError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "vcId is required")
		return
	}
	sv := s.requireService(w, req.ClusterID)
	if sv == nil {
		return
	}
	c := s.vcs[req.VcID]
	if c == nil || c.svc != sv {
		writeCDPError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("Virtual Cluster %s not found in cluster %s", req.VcID, req.ClusterID))
		return
	}
	base := strings.TrimSuffix(c.apiURL, vcAPIPrefix)
	writeJSON(w, http.StatusOK, map[string]any{"vc": vcDescription{
		VcID: c.id, VcName: c.name, ClusterID: sv.clusterID, Status: c.status,
		Resources:    map[string]string{"cpuRequests": "20", "memRequests": "80Gi"},
		CreatorEmail: sv.creator, CreatorName: "cdesim",
		VcAPIURL: c.apiURL, VcUIURL: base + "/dex/ui/", HistoryServerURL: base + "/hs",
		CreationTime: rfc3339(c.created), SparkVersion: c.sparkVersion, VcTier: c.tier,
		ChartValueOverrides: []any{}, SparkConfigs: map[string]string{},
	}})
}

type dlInstance struct {
	ID            string `json:"id"`
	State         string `json:"state"`
	DiscoveryFQDN string `json:"discoveryFQDN,omitempty"`
	PrivateIP     string `json:"privateIp,omitempty"`
	InstanceGroup string `json:"instanceGroup"`
}

type dlGroup struct {
	Name      string       `json:"name"`
	Instances []dlInstance `json:"instances"`
}

func (dl *datalake) summary() map[string]any {
	return map[string]any{
		"datalakeName": dl.name, "crn": dl.crn, "status": dl.status,
		"environmentCrn": dl.envCRN, "creationDate": rfc3339(dl.created),
		"certificateExpirationState": "VALID", "enableRangerRaz": false, "multiAz": false,
	}
}

func (s *Sim) listDatalakes(w http.ResponseWriter, body []byte) {
	var req struct {
		EnvironmentName string `json:"environmentName"`
		DatalakeName    string `json:"datalakeName"`
	}
	if !decodeCDP(w, body, &req) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, dl := range s.datalakes {
		if req.EnvironmentName != "" && req.EnvironmentName != dl.envCRN && req.EnvironmentName != dl.envName {
			continue
		}
		if req.DatalakeName != "" && req.DatalakeName != dl.name && req.DatalakeName != dl.crn {
			continue
		}
		out = append(out, dl.summary())
	}
	writeJSON(w, http.StatusOK, map[string]any{"datalakes": out})
}

func (s *Sim) describeDatalake(w http.ResponseWriter, body []byte) {
	var req struct {
		DatalakeName string `json:"datalakeName"`
	}
	if !decodeCDP(w, body, &req) {
		return
	}
	if req.DatalakeName == "" {
		writeCDPError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "datalakeName is required")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, dl := range s.datalakes {
		if req.DatalakeName != dl.name && req.DatalakeName != dl.crn {
			continue
		}
		d := dl.summary()
		delete(d, "multiAz")
		d["cloudPlatform"] = dl.cloud
		d["shape"] = "LIGHT_DUTY"
		d["region"] = "us-west-1"
		groups := []dlGroup{}
		for _, g := range dl.groups {
			dg := dlGroup{Name: g.Name, Instances: []dlInstance{}}
			for _, in := range g.Instances {
				dg.Instances = append(dg.Instances, dlInstance{
					ID: in.ID, State: in.State, DiscoveryFQDN: in.DiscoveryFQDN,
					PrivateIP: in.PrivateIP, InstanceGroup: g.Name,
				})
			}
			groups = append(groups, dg)
		}
		d["instanceGroups"] = groups
		writeJSON(w, http.StatusOK, map[string]any{"datalake": d})
		return
	}
	writeCDPError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("Datalake not found: %s", req.DatalakeName))
}

func newUUID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
