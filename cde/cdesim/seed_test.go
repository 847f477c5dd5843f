package cdesim_test

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

const exampleSeed = "../../examples/cdesim-seed.yaml"

func TestExampleSeedIsValidAndMatchesDemoSeed(t *testing.T) {
	seed, err := cdesim.LoadSeed(exampleSeed)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(seed, cdesim.DemoSeed()) {
		t.Errorf("examples/cdesim-seed.yaml and DemoSeed() differ:\nfile: %+v\ndemo: %+v", seed, cdesim.DemoSeed())
	}
	sim := cdesim.StartForTest(t, seed, cdesim.Options{})
	var running, deleted, notActive bool
	for _, s := range sim.Services() {
		switch {
		case s.Name == "cde-dev" && s.Status == cdesim.StatusServiceRunning && s.EnvironmentName == "dev-env" &&
			len(s.VCs) == 1 && s.VCs[0].Name == "vc-dev" && s.VCs[0].Status == cdesim.StatusVCRunning:
			running = true
		case s.Status == cdesim.StatusServiceDeleted:
			deleted = true
		case s.Status == cdesim.StatusServiceRunning && len(s.VCs) > 0 && s.VCs[0].Status != cdesim.StatusVCRunning:
			notActive = true
		}
	}
	if !running || !deleted || !notActive {
		t.Errorf("seed lacks running=%v deleted=%v vc-not-active=%v", running, deleted, notActive)
	}
}

func TestParseSeedRejectsBadSeeds(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", "services:\n  - name: a\n    colour: red\n", "colour"},
		{"key without material", "apiKeys:\n  - accessKeyId: k\n", "privateKey or publicKey is required"},
		{"short Ed25519 seed", "apiKeys:\n  - accessKeyId: k\n    privateKey: c2hvcnQ=\n", "44-character"},
		{"both private and public key", "apiKeys:\n  - accessKeyId: k\n    privateKey: " + cdesim.DemoPrivateKey + "\n    publicKey: x\n", "not both"},
		{"PKCS#1 RSA PEM", "apiKeys:\n  - accessKeyId: k\n    privateKey: \"-----BEGIN RSA PRIVATE KEY-----\\nAAAA\\n-----END RSA PRIVATE KEY-----\"\n", "PKCS#8"},
		{"duplicate access key", "apiKeys:\n  - {accessKeyId: k, privateKey: " + cdesim.DemoPrivateKey + "}\n  - {accessKeyId: k, privateKey: " + cdesim.DemoPrivateKey + "}\n", "duplicate accessKeyId"},
		{"two live services with one name", "services:\n  - name: a\n  - name: a\n", "duplicate live service name"},
		{"user without password", "workloadUsers:\n  - name: u\n", "name and password are required"},
		{"duplicate vcId", "services:\n  - name: a\n    virtualClusters: [{name: v, vcId: x}, {name: w, vcId: x}]\n", "duplicate vcId"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cdesim.ParseSeed([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestSeedKeyFormats(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	pkcs8, _ := x509.MarshalPKCS8PrivateKey(priv)
	pkix, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	rsaOneLine := strings.ReplaceAll(rsaPKCS8PEM(t, rsaKey), "\n", `\n`)
	tests := []struct {
		name string
		key  cdesim.APIKeySeed
		sg   signer
	}{
		{"Ed25519 PKCS#8 PEM private key", cdesim.APIKeySeed{PrivateKey: string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8}))},
			signer{key: priv, padded: true}},
		{"RSA PKCS#8 PEM on one line with literal \\n (Java form)", cdesim.APIKeySeed{PrivateKey: rsaOneLine},
			signer{key: rsaKey}},
		{"RSA PKIX public key PEM", cdesim.APIKeySeed{PublicKey: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkix}))},
			signer{key: rsaKey, padded: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seed := cdesim.DemoSeed()
			tt.key.AccessKeyID = "k1"
			tt.sg.keyID = "k1"
			seed.APIKeys = []cdesim.APIKeySeed{tt.key}
			clock := cdesim.NewManualClock(t0)
			sim := cdesim.StartForTest(t, seed, cdesim.Options{Now: clock.Now})
			e := &env{sim: sim, clock: clock, http: sim.Client()}
			wantStatus(t, e.cp(t, tt.sg, "de/listServices", map[string]any{}), http.StatusOK)
		})
	}
}

func TestLoadSeedReportsTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "seed.yaml")
	if err := os.WriteFile(p, []byte("services: [{name: a}, {name: a}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := cdesim.LoadSeed(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("error %v does not name the file", err)
	}
}

func TestCAAndBinding(t *testing.T) {
	sim := cdesim.StartForTest(t, cdesim.DemoSeed(), cdesim.Options{})
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := sim.WriteCA(p); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	block, _ := pem.Decode(b)
	ca, err := x509.ParseCertificate(block.Bytes)
	if err != nil || !ca.IsCA {
		t.Fatalf("CA file: %v", err)
	}
	if !strings.HasPrefix(sim.ControlPlaneURL(), "https://127.0.0.1:") {
		t.Errorf("control plane %s", sim.ControlPlaneURL())
	}
	// The default client (system roots only) must not trust the simulator.
	if _, err := http.Get(sim.ControlPlaneURL()); err == nil {
		t.Error("simulator trusted without its CA")
	}
	if _, err := cdesim.Start(t.Context(), cdesim.DemoSeed(), cdesim.Options{ListenIP: "0.0.0.0"}); err == nil {
		t.Error("non-loopback listen IP accepted")
	}
}
