package cdesim_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/witboost-community/cde-spark-provisioner/cde/cdesim"
)

// t0 is a Monday with a one-digit day, so Java's unpadded date form differs.
var t0 = time.Date(2026, 3, 2, 9, 4, 5, 0, time.UTC)

const (
	goDateLayout   = "Mon, 02 Jan 2006 15:04:05 GMT"
	javaDateLayout = "Mon, 2 Jan 2006 15:04:05 GMT"
)

// testKeys are generated once per test binary: an RSA key and a second
// Ed25519 key registered by public key only.
var (
	rsaKey      = mustRSA()
	rsaKeyID    = "rsa-key-id"
	pubOnlyKey  = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))
	pubOnlyID   = "ed25519-public-only"
	demoPrivKey = func() ed25519.PrivateKey {
		seed, err := base64.StdEncoding.DecodeString(cdesim.DemoPrivateKey)
		if err != nil {
			panic(err)
		}
		return ed25519.NewKeyFromSeed(seed)
	}()
)

func mustRSA() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
}

func rsaPKCS8PEM(t testing.TB, k *rsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// testSeed is DemoSeed plus an RSA key and a public-only Ed25519 key.
func testSeed(t testing.TB) cdesim.Seed {
	seed := cdesim.DemoSeed()
	seed.APIKeys = append(seed.APIKeys,
		cdesim.APIKeySeed{AccessKeyID: rsaKeyID, PrivateKey: rsaPKCS8PEM(t, rsaKey)},
		cdesim.APIKeySeed{AccessKeyID: pubOnlyID, PublicKey: base64.StdEncoding.EncodeToString(pubOnlyKey.Public().(ed25519.PublicKey))},
	)
	return seed
}

type env struct {
	sim   *cdesim.Sim
	clock *cdesim.ManualClock
	http  *http.Client
}

func newEnv(t *testing.T, opts cdesim.Options) *env {
	t.Helper()
	clock := cdesim.NewManualClock(t0)
	opts.Now = clock.Now
	sim := cdesim.StartForTest(t, testSeed(t), opts)
	return &env{sim: sim, clock: clock, http: sim.Client()}
}

// signer is a minimal CDP request signer written from reference §1.3,
// independent of package cde.
type signer struct {
	keyID  string
	key    crypto.Signer // ed25519.PrivateKey or *rsa.PrivateKey
	padded bool          // Go/Python pad base64url, Java does not
	spaced bool          // Python json.dumps puts spaces after ':' and ','
	date   string        // x-altus-date override
}

func (s signer) method() string {
	if _, ok := s.key.(*rsa.PrivateKey); ok {
		return "rsav1"
	}
	return "ed25519v1"
}

func (s signer) b64(b []byte) string {
	if s.padded {
		return base64.URLEncoding.EncodeToString(b)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s signer) sign(t testing.TB, req *http.Request, now time.Time, path string) {
	t.Helper()
	date := s.date
	if date == "" {
		date = now.UTC().Format(goDateLayout)
	}
	if path == "" {
		path = req.URL.Path
	}
	toSign := req.Method + "\n" + req.Header.Get("Content-Type") + "\n" + date + "\n" + path + "\n" + s.method()
	var sig []byte
	var err error
	switch k := s.key.(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, []byte(toSign))
	case *rsa.PrivateKey:
		h := sha256.Sum256([]byte(toSign))
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
		if err != nil {
			t.Fatal(err)
		}
	}
	params := `{"access_key_id":"` + s.keyID + `","auth_method":"` + s.method() + `"}`
	if s.spaced {
		params = `{"access_key_id": "` + s.keyID + `", "auth_method": "` + s.method() + `"}`
	}
	req.Header.Set("x-altus-auth", s.b64([]byte(params))+"."+s.b64(sig))
	req.Header.Set("x-altus-date", date)
}

var demoSigner = signer{keyID: cdesim.DemoAccessKeyID, key: demoPrivKey, padded: true}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("decode %d response %q: %v", r.status, r.body, err)
	}
	return m
}

func do(t testing.TB, c *http.Client, req *http.Request) response {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// cp calls a control-plane operation signed by sg ("de/listServices").
func (e *env) cp(t testing.TB, sg signer, op string, body any) response {
	t.Helper()
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, e.sim.ControlPlaneURL()+"/api/v1/"+op, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	sg.sign(t, req, e.clock.Now(), "")
	return do(t, e.http, req)
}

func (e *env) service(t testing.TB, name string) cdesim.ServiceInfo {
	t.Helper()
	s, ok := e.sim.Service(name)
	if !ok {
		t.Fatalf("service %q not in simulator", name)
	}
	return s
}

func (e *env) vc(t testing.TB, service, name string) cdesim.VCInfo {
	t.Helper()
	v, ok := e.sim.VC(service, name)
	if !ok {
		t.Fatalf("vc %s/%s not in simulator", service, name)
	}
	return v
}

// knox fetches a token from a service's Knox endpoint.
func (e *env) knox(t testing.TB, service, user, password string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, e.service(t, service).TokenURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	return do(t, e.http, req)
}

func (e *env) token(t testing.TB, service string) string {
	t.Helper()
	r := e.knox(t, service, cdesim.DemoUser, cdesim.DemoPassword)
	if r.status != http.StatusOK {
		t.Fatalf("knox token: %d %s", r.status, r.body)
	}
	return r.json(t)["access_token"].(string)
}

// vcAPI is a bearer-authenticated client of one VC's jobs API.
type vcAPI struct {
	e     *env
	base  string
	token string
}

func (e *env) devAPI(t testing.TB) vcAPI {
	t.Helper()
	return vcAPI{e: e, base: e.vc(t, cdesim.DemoService, cdesim.DemoVC).APIURL, token: e.token(t, cdesim.DemoService)}
}

func (a vcAPI) call(t testing.TB, method, path string, body any) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case string:
			rd = strings.NewReader(b)
		default:
			j, _ := json.Marshal(b)
			rd = bytes.NewReader(j)
		}
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	return do(t, a.e.http, req)
}

// upload PUTs data as witboost does: multipart with one part named "file".
func (a vcAPI) upload(t testing.TB, resource, path string, data []byte) response {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("file", path)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	req, err := http.NewRequest(http.MethodPut, a.base+"/resources/"+resource+"/"+path, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+a.token)
	return do(t, a.e.http, req)
}

func wantStatus(t testing.TB, r response, want int) {
	t.Helper()
	if r.status != want {
		t.Fatalf("status %d, want %d; body %s", r.status, want, r.body)
	}
}
