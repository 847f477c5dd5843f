package cde

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fixed test keys. The Ed25519 seed is 32 bytes 0x00..0x1f; its base64 is
// the 44-character form CDP hands out.
var (
	testSeed       = []byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f")
	testEd25519Key = base64.StdEncoding.EncodeToString(testSeed)
	testRSAKey     = sync.OnceValues(func() (*rsa.PrivateKey, string) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			panic(err)
		}
		return k, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	})
)

// The reference's example instant: a single-digit day, which Go pads and
// Java does not.
var signTime = time.Date(2006, 1, 2, 15, 4, 5, 0, time.FixedZone("CET", 3600)).Add(time.Hour)

func newSignedRequest(t *testing.T, s *Signer, path string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://api.example.com"+path, strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if err := s.Sign(req, signTime); err != nil {
		t.Fatal(err)
	}
	return req
}

func TestSignerEd25519MatchesIndependentlyComputedHeader(t *testing.T) {
	if len(testEd25519Key) != 44 {
		t.Fatalf("test seed encodes to %d characters", len(testEd25519Key))
	}
	s, err := NewSigner("ak-123", testEd25519Key)
	if err != nil {
		t.Fatal(err)
	}
	req := newSignedRequest(t, s, "/api/v1/de/describeVc")

	// Written out by hand from the reference, section 1.3.
	wantDate := "Mon, 02 Jan 2006 15:04:05 GMT"
	toSign := "POST\napplication/json\n" + wantDate + "\n/api/v1/de/describeVc\ned25519v1"
	sig := ed25519.Sign(ed25519.NewKeyFromSeed(testSeed), []byte(toSign))
	params := `{"access_key_id":"ak-123","auth_method":"ed25519v1"}`
	want := base64.URLEncoding.EncodeToString([]byte(params)) + "." + base64.URLEncoding.EncodeToString(sig)

	if got := req.Header.Get("x-altus-date"); got != wantDate {
		t.Errorf("x-altus-date = %q, want %q", got, wantDate)
	}
	if got := req.Header.Get("x-altus-auth"); got != want {
		t.Errorf("x-altus-auth = %q\nwant %q", got, want)
	}
	if s.AuthMethod() != AuthMethodEd25519 {
		t.Errorf("AuthMethod = %q", s.AuthMethod())
	}
}

func TestSignerRSAMatchesIndependentlyComputedHeader(t *testing.T) {
	key, pemKey := testRSAKey()
	for name, privateKey := range map[string]string{
		"multi-line PEM":                   pemKey,
		"one-line PEM with literal \\n":    strings.ReplaceAll(pemKey, "\n", `\n`),
		"PEM with surrounding blank lines": "\n\n" + pemKey + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			s, err := NewSigner("ak-rsa", privateKey)
			if err != nil {
				t.Fatal(err)
			}
			req := newSignedRequest(t, s, "/api/v1/datalake/listDatalakes")
			toSign := "POST\napplication/json\nMon, 02 Jan 2006 15:04:05 GMT\n/api/v1/datalake/listDatalakes\nrsav1"
			sum := sha256.Sum256([]byte(toSign))
			sig, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, sum[:]) // deterministic
			if err != nil {
				t.Fatal(err)
			}
			params := `{"access_key_id":"ak-rsa","auth_method":"rsav1"}`
			want := base64.URLEncoding.EncodeToString([]byte(params)) + "." + base64.URLEncoding.EncodeToString(sig)
			if got := req.Header.Get("x-altus-auth"); got != want {
				t.Errorf("x-altus-auth = %q\nwant %q", got, want)
			}
		})
	}
}

// A verifier written the way the reference describes a server's (either
// base64 padding, either date form) accepts what the signer sends.
func TestSignedHeadersVerifyWithBothBase64FormsAndDateLayouts(t *testing.T) {
	_, pemKey := testRSAKey()
	for _, key := range []string{testEd25519Key, pemKey} {
		s, err := NewSigner("ak", key)
		if err != nil {
			t.Fatal(err)
		}
		req := newSignedRequest(t, s, "/api/v1/de/listServices")
		date := req.Header.Get("x-altus-date")
		for _, layout := range []string{http.TimeFormat, "Mon, 2 Jan 2006 15:04:05 GMT"} {
			got, err := time.Parse(layout, date)
			if err != nil || !got.Equal(signTime) {
				t.Errorf("%s: date %q with layout %q: %v %v", s.AuthMethod(), date, layout, got, err)
			}
		}
		auth := req.Header.Get("x-altus-auth")
		for name, enc := range map[string]*base64.Encoding{"padded": base64.URLEncoding, "unpadded": base64.RawURLEncoding} {
			paramsPart, sigPart, ok := strings.Cut(auth, ".")
			if !ok {
				t.Fatalf("no dot in %q", auth)
			}
			if enc == base64.RawURLEncoding {
				paramsPart, sigPart = strings.TrimRight(paramsPart, "="), strings.TrimRight(sigPart, "=")
			}
			rawParams, err := enc.DecodeString(paramsPart)
			if err != nil {
				t.Fatalf("%s params: %v", name, err)
			}
			var params map[string]string
			if err := json.Unmarshal(rawParams, &params); err != nil {
				t.Fatal(err)
			}
			if params["access_key_id"] != "ak" || params["auth_method"] != s.AuthMethod() {
				t.Errorf("%s params = %v", name, params)
			}
			sig, err := enc.DecodeString(sigPart)
			if err != nil {
				t.Fatalf("%s signature: %v", name, err)
			}
			msg := []byte("POST\napplication/json\n" + date + "\n/api/v1/de/listServices\n" + s.AuthMethod())
			if err := verifySignature(key, msg, sig); err != nil {
				t.Errorf("%s %s: %v", s.AuthMethod(), name, err)
			}
		}
	}
}

// verifySignature checks sig over msg with the public half of privateKey.
func verifySignature(privateKey string, msg, sig []byte) error {
	if !strings.Contains(privateKey, "BEGIN") {
		seed, _ := base64.StdEncoding.DecodeString(privateKey)
		pub := ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
		if !ed25519.Verify(pub, msg, sig) {
			return fmt.Errorf("ed25519 signature does not verify")
		}
		return nil
	}
	block, _ := pem.Decode([]byte(privateKey))
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(msg)
	return rsa.VerifyPKCS1v15(&k.(*rsa.PrivateKey).PublicKey, crypto.SHA256, sum[:], sig)
}

func TestNewSignerRejectsMalformedKeysWithoutEchoingThem(t *testing.T) {
	_, pemKey := testRSAKey()
	body := strings.Split(pemKey, "\n")[1] // one line of real key material
	tests := []struct {
		name string
		key  string
	}{
		{"empty", ""},
		{"43 characters", testEd25519Key[:43]},
		{"45 characters", testEd25519Key + "A"},
		{"44 characters that are not base64", "!!!!" + testEd25519Key[4:]},
		{"44 base64 characters of a 33-byte value", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 33))[:44]},
		{"PEM with a corrupted body", strings.Replace(pemKey, body, strings.Repeat("Q", len(body)), 1)},
		{"PEM of an unexpected type", strings.ReplaceAll(pemKey, "PRIVATE KEY", "PUBLIC KEY")},
		{"PEM header without a block", "-----BEGIN PRIVATE KEY-----\n" + body},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSigner("ak", tt.key)
			if err == nil {
				t.Fatal("want an error")
			}
			msg := err.Error()
			for _, secret := range []string{testEd25519Key[:12], body[:16], tt.key} {
				if len(tt.key) > 0 && len(secret) >= 8 && strings.Contains(msg, secret) {
					t.Errorf("error %q contains key material %q", msg, secret)
				}
			}
		})
	}
	if _, err := NewSigner("", testEd25519Key); err == nil {
		t.Error("an empty access key id must be refused")
	}
}

func TestCredentialTypesRedactSecrets(t *testing.T) {
	_, pemKey := testRSAKey()
	signer, err := NewSigner("ak", testEd25519Key)
	if err != nil {
		t.Fatal(err)
	}
	knox, err := NewKnoxTokenSource(KnoxConfig{User: "wu", Password: "hunter2-secret"})
	if err != nil {
		t.Fatal(err)
	}
	cdp, err := NewCDPClient(CDPConfig{AccessKeyID: "ak", PrivateKey: testEd25519Key})
	if err != nil {
		t.Fatal(err)
	}
	jobs, err := NewJobsClient("https://vc.example/dex/api/v1", StaticTokenSource("tok-secret-value"), nil)
	if err != nil {
		t.Fatal(err)
	}
	values := []any{
		jobs, knox.ForHost("svc.example"),
		CDPConfig{AccessKeyID: "ak", PrivateKey: testEd25519Key},
		CDPConfig{AccessKeyID: "ak", PrivateKey: pemKey},
		KnoxConfig{User: "wu", Password: "hunter2-secret"},
		signer, knox, cdp, StaticTokenSource("tok-secret-value"),
		struct{ Nested CDPConfig }{CDPConfig{PrivateKey: testEd25519Key}},
	}
	secrets := []string{testEd25519Key, strings.Split(pemKey, "\n")[1], "hunter2-secret", "tok-secret-value",
		fmt.Sprintf("%x", "hunter2-secret"), fmt.Sprintf("%x", "tok-secret-value"), fmt.Sprintf("%x", testEd25519Key)}
	for i, v := range values {
		var logBuf strings.Builder
		slog.New(slog.NewTextHandler(&logBuf, nil)).Info("cfg", "v", v)
		wrapped := struct{ V any }{v}
		for _, out := range []string{fmt.Sprint(v), fmt.Sprintf("%v %+v %#v %s %q %x %d %t", v, v, v, v, v, v, v, v),
			fmt.Sprintf("%v %+v %#v %d", wrapped, wrapped, wrapped, wrapped), logBuf.String()} {
			for _, s := range secrets {
				if strings.Contains(out, s) {
					t.Errorf("value %d (%T) prints a secret: %s", i, v, out)
				}
			}
		}
	}
}
