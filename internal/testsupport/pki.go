package testsupport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI issues ECDSA P-256 certificates into a test's temporary directory, for the tests of
// TLS: the API's HTTPS and mutual TLS, the Temporal client's mTLS. Keys are generated per test
// and never checked in.
type PKI struct {
	t      testing.TB
	Dir    string
	serial int64
}

// Issuer is a certificate authority of a PKI, its certificate in File (PEM).
type Issuer struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	File string
}

// LeafOptions shape a certificate: its extended usage (server or client), its expiry (default
// an hour from now) and DNS names besides 127.0.0.1.
type LeafOptions struct {
	Usage    x509.ExtKeyUsage
	NotAfter time.Time
	DNSNames []string
}

// NewPKI returns a PKI writing into a temporary directory of t.
func NewPKI(t testing.TB) *PKI { return &PKI{t: t, Dir: t.TempDir()} }

func (p *PKI) nextSerial() *big.Int {
	p.serial++
	return big.NewInt(p.serial)
}

// CA creates a certificate authority named name.
func (p *PKI) CA(name string) Issuer {
	p.t.Helper()
	key := p.key()
	tmpl := &x509.Certificate{
		SerialNumber:          p.nextSerial(),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	p.must(err)
	cert, err := x509.ParseCertificate(der)
	p.must(err)
	file := filepath.Join(p.Dir, name+".pem")
	p.Write(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	return Issuer{Cert: cert, Key: key, File: file}
}

// Leaf issues a certificate for 127.0.0.1 (and o.DNSNames) signed by ca, and returns it with the
// paths of its PEM files, name.crt and name.key.
func (p *PKI) Leaf(ca Issuer, name string, o LeafOptions) (tls.Certificate, string, string) {
	p.t.Helper()
	key := p.key()
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(time.Hour)
	}
	tmpl := &x509.Certificate{
		SerialNumber: p.nextSerial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-2 * time.Hour),
		NotAfter:     o.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{o.Usage},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     o.DNSNames,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	p.must(err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	p.must(err)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	p.must(err)
	certFile, keyFile := filepath.Join(p.Dir, name+".crt"), filepath.Join(p.Dir, name+".key")
	p.Write(certFile, certPEM)
	p.Write(keyFile, keyPEM)
	return pair, certFile, keyFile
}

// Write replaces a file with a rename, so that it is a new file, as a Secret update makes it.
func (p *PKI) Write(path string, content []byte) {
	p.t.Helper()
	tmp := path + ".tmp"
	p.must(os.WriteFile(tmp, content, 0o600))
	p.must(os.Rename(tmp, path))
}

func (p *PKI) key() *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p.must(err)
	return key
}

func (p *PKI) must(err error) {
	p.t.Helper()
	if err != nil {
		p.t.Fatal(err)
	}
}
