package cde

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Authentication methods of the x-altus-auth header (reference 1.2).
const (
	AuthMethodEd25519 = "ed25519v1"
	AuthMethodRSA     = "rsav1"
)

// altusDateLayout is RFC 1123 with a literal GMT, the form the Go SDK and
// cdpcli send (zero-padded day).
const altusDateLayout = "Mon, 02 Jan 2006 15:04:05 GMT"

// ed25519SeedLength is how every CDP SDK recognises an Ed25519 key: the
// standard base64 of a 32-byte seed, padding included.
const ed25519SeedLength = 44

// Signer signs CDP control-plane requests with an API access key. Its
// String, GoString and LogValue never show the private key.
type Signer struct {
	accessKeyID string
	authMethod  string
	sign        func(msg []byte) ([]byte, error)
}

// NewSigner parses privateKey, either the 44-character base64 Ed25519 seed
// or an RSA PKCS#8 PEM (PKCS#1 is accepted too; a one-line PEM with literal
// "\n" sequences, as some secret stores hold it, as well). The error never
// contains the key.
func NewSigner(accessKeyID, privateKey string) (*Signer, error) {
	if strings.TrimSpace(accessKeyID) == "" {
		return nil, errors.New("cde: CDP access key id is empty")
	}
	key := strings.TrimSpace(privateKey)
	if key == "" {
		return nil, errors.New("cde: CDP private key is empty")
	}
	s := &Signer{accessKeyID: accessKeyID}
	if !strings.Contains(key, "-----BEGIN") {
		seed, err := base64.StdEncoding.DecodeString(key)
		if len(key) != ed25519SeedLength || err != nil || len(seed) != ed25519.SeedSize {
			// Say what was expected, never what was received.
			return nil, fmt.Errorf("cde: CDP private key is neither a %d-character base64 Ed25519 seed nor a PEM key (got %d characters)", ed25519SeedLength, len(key))
		}
		priv := ed25519.NewKeyFromSeed(seed)
		s.authMethod = AuthMethodEd25519
		s.sign = func(msg []byte) ([]byte, error) { return ed25519.Sign(priv, msg), nil }
		return s, nil
	}
	key = strings.ReplaceAll(key, `\n`, "\n")
	block, _ := pem.Decode([]byte(key))
	if block == nil {
		return nil, errors.New("cde: CDP private key looks like PEM but has no decodable PEM block")
	}
	var parsed any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		parsed, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("cde: CDP private key has PEM type %q, want PRIVATE KEY (PKCS#8)", block.Type)
	}
	if err != nil {
		// x509 errors describe the structure, not the bytes, but the key is
		// a secret: keep only the generic statement.
		return nil, fmt.Errorf("cde: CDP private key: cannot parse %s PEM block", block.Type)
	}
	switch k := parsed.(type) {
	case *rsa.PrivateKey:
		s.authMethod = AuthMethodRSA
		s.sign = func(msg []byte) ([]byte, error) {
			sum := sha256.Sum256(msg)
			return rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, sum[:])
		}
	case ed25519.PrivateKey:
		s.authMethod = AuthMethodEd25519
		s.sign = func(msg []byte) ([]byte, error) { return ed25519.Sign(k, msg), nil }
	default:
		return nil, fmt.Errorf("cde: CDP private key type %T is not supported (RSA or Ed25519)", parsed)
	}
	return s, nil
}

// AuthMethod is "ed25519v1" or "rsav1".
func (s *Signer) AuthMethod() string { return s.authMethod }

// AccessKeyID is the access key id the signer sends.
func (s *Signer) AccessKeyID() string { return s.accessKeyID }

// Sign sets x-altus-date and x-altus-auth on req for the instant now. The
// Content-Type header must already be set: it is part of what is signed.
func (s *Signer) Sign(req *http.Request, now time.Time) error {
	date := now.UTC().Format(altusDateLayout)
	// The reference's string to sign uses the path without query; CDP
	// operations never have one.
	toSign := StringToSign(req.Method, req.Header.Get("Content-Type"), date, req.URL.EscapedPath(), s.authMethod)
	sig, err := s.sign([]byte(toSign))
	if err != nil {
		return fmt.Errorf("cde: sign request: %w", err)
	}
	params, err := json.Marshal(struct {
		AccessKeyID string `json:"access_key_id"`
		AuthMethod  string `json:"auth_method"`
	}{s.accessKeyID, s.authMethod})
	if err != nil {
		return fmt.Errorf("cde: sign request: %w", err)
	}
	req.Header.Set("x-altus-date", date)
	req.Header.Set("x-altus-auth", base64.URLEncoding.EncodeToString(params)+"."+base64.URLEncoding.EncodeToString(sig))
	return nil
}

// StringToSign is the exact text signed for x-altus-auth (reference 1.3).
func StringToSign(method, contentType, date, path, authMethod string) string {
	return strings.ToUpper(method) + "\n" + contentType + "\n" + date + "\n" + path + "\n" + authMethod
}

// String shows the access key id and method, never the private key.
func (s *Signer) String() string {
	if s == nil {
		return "cde.Signer(nil)"
	}
	return fmt.Sprintf("cde.Signer{AccessKeyID: %q, AuthMethod: %q, PrivateKey: REDACTED}", s.accessKeyID, s.authMethod)
}

// GoString keeps %#v from printing the key material held in closures' captures.
func (s *Signer) GoString() string { return s.String() }

// Format prints the redacted String form for every verb, so that no verb,
// not even a wrong one, makes fmt print the fields.
func (s *Signer) Format(f fmt.State, verb rune) { formatRedacted(f, verb, s.String()) }

// LogValue redacts the private key in slog output.
func (s *Signer) LogValue() slog.Value {
	if s == nil {
		return slog.StringValue("nil")
	}
	return slog.GroupValue(
		slog.String("accessKeyID", s.accessKeyID),
		slog.String("authMethod", s.authMethod),
		slog.String("privateKey", redacted),
	)
}

const redacted = "REDACTED"

// formatRedacted writes s, the redacted form of a value holding a secret,
// whatever the verb (quoted for %q).
func formatRedacted(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = io.WriteString(f, s)
}
