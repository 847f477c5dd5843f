package cdesim

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Seed is the initial state of a simulator; see the package documentation for
// the YAML form.
type Seed struct {
	// Tenant names the CDP tenant (used in generated CRNs and tenantId).
	Tenant        string         `yaml:"tenant"`
	APIKeys       []APIKeySeed   `yaml:"apiKeys"`
	WorkloadUsers []UserSeed     `yaml:"workloadUsers"`
	Services      []ServiceSeed  `yaml:"services"`
	Datalakes     []DatalakeSeed `yaml:"datalakes"`
}

// APIKeySeed is one CDP API access key. Exactly one of PrivateKey and
// PublicKey is set. A private key is an Ed25519 seed in standard base64
// (44 characters) or a PKCS#8 PEM (RSA or Ed25519; literal "\n" sequences
// are accepted as in the Java SDK). A public key is a base64 32-byte Ed25519
// key or a PKIX "PUBLIC KEY" PEM (RSA or Ed25519).
type APIKeySeed struct {
	AccessKeyID string `yaml:"accessKeyId"`
	PrivateKey  string `yaml:"privateKey"`
	PublicKey   string `yaml:"publicKey"`
}

// UserSeed is a CDP workload user allowed on every service's Knox token endpoint.
type UserSeed struct {
	Name     string `yaml:"name"`
	Password string `yaml:"password"`
}

// ServiceSeed is one CDE service. ClusterID is generated when empty; Status
// defaults to ClusterCreationCompleted. ClusterFqdn is always assigned by the
// simulator (127.0.0.1:<port>). Live services of different environments may
// share a name, as in CDP; in one environment only a deleted one may.
type ServiceSeed struct {
	Name            string   `yaml:"name"`
	ClusterID       string   `yaml:"clusterId"`
	CRN             string   `yaml:"crn"`
	EnvironmentName string   `yaml:"environmentName"`
	EnvironmentCRN  string   `yaml:"environmentCrn"`
	Status          string   `yaml:"status"`
	CloudPlatform   string   `yaml:"cloudPlatform"`
	CreatorEmail    string   `yaml:"creatorEmail"`
	VirtualClusters []VCSeed `yaml:"virtualClusters"`
}

// VCSeed is one virtual cluster. VCID is generated (dex-app-xxxxxxxx) when
// empty; Status defaults to AppInstalled. VcApiUrl is always assigned by the
// simulator.
type VCSeed struct {
	Name         string `yaml:"name"`
	VCID         string `yaml:"vcId"`
	Status       string `yaml:"status"`
	SparkVersion string `yaml:"sparkVersion"`
	VCTier       string `yaml:"vcTier"`
}

// DatalakeSeed is one datalake with its instance groups.
type DatalakeSeed struct {
	Name            string              `yaml:"name"`
	CRN             string              `yaml:"crn"`
	EnvironmentName string              `yaml:"environmentName"`
	EnvironmentCRN  string              `yaml:"environmentCrn"`
	Status          string              `yaml:"status"`
	CloudPlatform   string              `yaml:"cloudPlatform"`
	InstanceGroups  []InstanceGroupSeed `yaml:"instanceGroups"`
}

// InstanceGroupSeed is a datalake instance group (e.g. "idbroker").
type InstanceGroupSeed struct {
	Name      string         `yaml:"name"`
	Instances []InstanceSeed `yaml:"instances"`
}

// InstanceSeed is one datalake instance; ID is generated when empty and
// State defaults to HEALTHY.
type InstanceSeed struct {
	ID            string `yaml:"id"`
	PrivateIP     string `yaml:"privateIp"`
	DiscoveryFQDN string `yaml:"discoveryFQDN"`
	State         string `yaml:"state"`
}

// LoadSeed reads and parses a YAML seed file.
func LoadSeed(path string) (Seed, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Seed{}, fmt.Errorf("read seed: %w", err)
	}
	s, err := ParseSeed(data)
	if err != nil {
		return Seed{}, fmt.Errorf("seed %s: %w", path, err)
	}
	return s, nil
}

// ParseSeed parses a YAML seed, rejecting unknown fields, and validates it.
func ParseSeed(data []byte) (Seed, error) {
	var s Seed
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return Seed{}, fmt.Errorf("decode seed: %w", err)
	}
	if err := s.Validate(); err != nil {
		return Seed{}, err
	}
	return s, nil
}

// Validate checks names, uniqueness and key material.
func (s Seed) Validate() error {
	var errs []error
	keys := map[string]bool{}
	for i, k := range s.APIKeys {
		if k.AccessKeyID == "" {
			errs = append(errs, fmt.Errorf("apiKeys[%d]: accessKeyId is required", i))
		} else if keys[k.AccessKeyID] {
			errs = append(errs, fmt.Errorf("apiKeys[%d]: duplicate accessKeyId %q", i, k.AccessKeyID))
		}
		keys[k.AccessKeyID] = true
		if _, err := k.verifier(); err != nil {
			errs = append(errs, fmt.Errorf("apiKeys[%d] (%s): %w", i, k.AccessKeyID, err))
		}
	}
	users := map[string]bool{}
	for i, u := range s.WorkloadUsers {
		if u.Name == "" || u.Password == "" {
			errs = append(errs, fmt.Errorf("workloadUsers[%d]: name and password are required", i))
		}
		if users[u.Name] {
			errs = append(errs, fmt.Errorf("workloadUsers[%d]: duplicate name %q", i, u.Name))
		}
		users[u.Name] = true
	}
	svcNames, ids, vcIDs := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, sv := range s.Services {
		if sv.Name == "" {
			errs = append(errs, fmt.Errorf("services[%d]: name is required", i))
		}
		// In one environment, two services may share a name only if at most
		// one is not deleted, as after a re-creation in CDP. Services of
		// different environments may share a name (CDP allows it; the
		// provisioner must then refuse the name as ambiguous). A service
		// without environmentName gets a generated one, but counts here as
		// one environment with the others that have none.
		if sv.Status != StatusServiceDeleted {
			key := sv.EnvironmentName + "\x00" + sv.Name
			if svcNames[key] {
				errs = append(errs, fmt.Errorf("services[%d]: duplicate live service name %q in environment %q", i, sv.Name, sv.EnvironmentName))
			}
			svcNames[key] = true
		}
		if sv.ClusterID != "" {
			if ids[sv.ClusterID] {
				errs = append(errs, fmt.Errorf("services[%d]: duplicate clusterId %q", i, sv.ClusterID))
			}
			ids[sv.ClusterID] = true
		}
		vcNames := map[string]bool{}
		for j, vc := range sv.VirtualClusters {
			if vc.Name == "" {
				errs = append(errs, fmt.Errorf("services[%d].virtualClusters[%d]: name is required", i, j))
			}
			if vc.Status != StatusVCDeleted {
				if vcNames[vc.Name] {
					errs = append(errs, fmt.Errorf("services[%d].virtualClusters[%d]: duplicate live name %q", i, j, vc.Name))
				}
				vcNames[vc.Name] = true
			}
			if vc.VCID != "" {
				if vcIDs[vc.VCID] {
					errs = append(errs, fmt.Errorf("services[%d].virtualClusters[%d]: duplicate vcId %q", i, j, vc.VCID))
				}
				vcIDs[vc.VCID] = true
			}
		}
	}
	dls := map[string]bool{}
	for i, dl := range s.Datalakes {
		if dl.Name == "" {
			errs = append(errs, fmt.Errorf("datalakes[%d]: name is required", i))
		}
		if dls[dl.Name] {
			errs = append(errs, fmt.Errorf("datalakes[%d]: duplicate name %q", i, dl.Name))
		}
		dls[dl.Name] = true
		for j, g := range dl.InstanceGroups {
			if g.Name == "" {
				errs = append(errs, fmt.Errorf("datalakes[%d].instanceGroups[%d]: name is required", i, j))
			}
		}
	}
	return errors.Join(errs...)
}

// keyVerifier checks a signature for one auth method.
type keyVerifier struct {
	method string // ed25519v1 or rsav1
	pub    crypto.PublicKey
}

func (v keyVerifier) verify(msg, sig []byte) bool {
	switch pub := v.pub.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(pub, msg, sig)
	case *rsa.PublicKey:
		h := crypto.SHA256.New()
		h.Write(msg)
		return rsa.VerifyPKCS1v15(pub, crypto.SHA256, h.Sum(nil), sig) == nil
	}
	return false
}

func (k APIKeySeed) verifier() (keyVerifier, error) {
	switch {
	case k.PrivateKey != "" && k.PublicKey != "":
		return keyVerifier{}, errors.New("set privateKey or publicKey, not both")
	case k.PrivateKey != "":
		return parsePrivate(k.PrivateKey)
	case k.PublicKey != "":
		return parsePublic(k.PublicKey)
	}
	return keyVerifier{}, errors.New("privateKey or publicKey is required")
}

func fromPublic(pub crypto.PublicKey) (keyVerifier, error) {
	switch p := pub.(type) {
	case ed25519.PublicKey:
		return keyVerifier{method: authEd25519, pub: p}, nil
	case *rsa.PublicKey:
		return keyVerifier{method: authRSA, pub: p}, nil
	}
	return keyVerifier{}, fmt.Errorf("unsupported key type %T (want Ed25519 or RSA)", pub)
}

func pemBlock(s string) *pem.Block {
	s = strings.TrimSpace(strings.ReplaceAll(s, `\n`, "\n"))
	if !strings.HasPrefix(s, "-----BEGIN") {
		return nil
	}
	b, _ := pem.Decode([]byte(s))
	return b
}

func parsePrivate(s string) (keyVerifier, error) {
	if b := pemBlock(s); b != nil {
		if b.Type != "PRIVATE KEY" {
			return keyVerifier{}, fmt.Errorf("private key PEM type %q: want PKCS#8 \"PRIVATE KEY\"", b.Type)
		}
		k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			return keyVerifier{}, fmt.Errorf("parse PKCS#8 private key: %w", err)
		}
		signer, ok := k.(crypto.Signer)
		if !ok {
			return keyVerifier{}, fmt.Errorf("unsupported private key type %T", k)
		}
		return fromPublic(signer.Public())
	}
	s = strings.TrimSpace(s)
	if len(s) != 44 {
		return keyVerifier{}, fmt.Errorf("private key is neither a PEM nor a 44-character base64 Ed25519 seed (got %d characters)", len(s))
	}
	seed, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(seed) != ed25519.SeedSize {
		return keyVerifier{}, errors.New("Ed25519 private key must be the standard base64 of a 32-byte seed")
	}
	return keyVerifier{method: authEd25519, pub: ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)}, nil
}

func parsePublic(s string) (keyVerifier, error) {
	if b := pemBlock(s); b != nil {
		if b.Type != "PUBLIC KEY" {
			return keyVerifier{}, fmt.Errorf("public key PEM type %q: want PKIX \"PUBLIC KEY\"", b.Type)
		}
		k, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return keyVerifier{}, fmt.Errorf("parse public key: %w", err)
		}
		return fromPublic(k)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return keyVerifier{}, errors.New("public key is neither a PEM nor the base64 of a 32-byte Ed25519 key")
	}
	return keyVerifier{method: authEd25519, pub: ed25519.PublicKey(raw)}, nil
}
