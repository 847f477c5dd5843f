package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/witboost-community/cde-spark-provisioner/api"
)

// checkAccessConfig refuses access-control settings that cannot work together, at start-up
// rather than with every call refused.
func checkAccessConfig(cfg APIConfig) error {
	switch {
	case (cfg.TLSCertFile == "") != (cfg.TLSKeyFile == ""):
		return errors.New("TLS_CERT_FILE and TLS_KEY_FILE go together: set both to serve HTTPS, or neither")
	case cfg.TLSClientCAFile != "" && cfg.TLSCertFile == "":
		return errors.New("TLS_CLIENT_CA_FILE needs TLS_CERT_FILE and TLS_KEY_FILE: client certificates are only presented over HTTPS")
	case len(clientNames(cfg)) > 0 && cfg.TLSClientCAFile == "":
		return errors.New("TLS_CLIENT_ALLOWED_NAMES pins the identity of client certificates: it needs TLS_CLIENT_CA_FILE (mutual TLS)")
	case cfg.AuthTokenGracePeriod < 0:
		return errors.New("AUTH_TOKEN_GRACE_PERIOD must not be negative")
	}
	return nil
}

// noAccessControl is the start-up warning of an API that answers whoever reaches it.
const noAccessControl = "no access control: any client that reaches the API can provision and unprovision Spark jobs; " +
	"set AUTH_TOKEN_FILE (a bearer token) or TLS_CLIENT_CA_FILE (mutual TLS), see the README, \"Access control\""

// clientNames are the entries of TLS_CLIENT_ALLOWED_NAMES: comma-separated, blanks ignored.
func clientNames(cfg APIConfig) []string {
	var names []string
	for n := range strings.SplitSeq(cfg.TLSClientAllowedNames, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	return names
}

// apiAuth is the access control of the Tech Adapter routes that cfg configures. Served over
// TLS, its ClientCAStatus comes from the TLS configuration (RunAPI).
func apiAuth(cfg APIConfig, logger *slog.Logger) api.Auth {
	var auth api.Auth
	if cfg.AuthTokenFile != "" {
		auth.Token = api.NewTokenFile(cfg.AuthTokenFile, cfg.AuthTokenGracePeriod, logger)
	}
	auth.ClientCert = cfg.TLSClientCAFile != ""
	auth.ClientNames = clientNames(cfg)
	return auth
}

// apiTLS is the API's TLS: the server certificate and key, and for mutual TLS the client CA,
// each read again when its files change (see watchedFiles).
//
// The two fail differently. A certificate or key that changes into something that does not load
// keeps the previous pair: serving with a still-valid certificate opens nothing. The client CA
// fails closed: a bundle that vanished (a deleted Secret or ConfigMap), cannot be read or holds
// no certificate verifies nobody, so no client certificate is asked for and every Tech Adapter
// call is refused (api.Auth.ClientCAStatus) until the file is fixed. Keeping the previous CA
// would go on trusting a CA that someone may have just removed on purpose.
type apiTLS struct {
	pair     *watchedFiles[*tls.Certificate]
	clientCA *watchedFiles[*x509.CertPool] // nil without TLS_CLIENT_CA_FILE
}

// newAPITLS reads the API's TLS files, or returns nil when it serves plain HTTP. A file that does
// not load now stops the start-up.
func newAPITLS(cfg APIConfig, logger *slog.Logger) (*apiTLS, error) {
	if cfg.TLSCertFile == "" {
		return nil, nil
	}
	paths := []string{cfg.TLSCertFile, cfg.TLSKeyFile}
	t := &apiTLS{pair: &watchedFiles[*tls.Certificate]{
		paths: paths, names: []string{"TLS_CERT_FILE", "TLS_KEY_FILE"}, log: logger,
		build: func() (*tls.Certificate, error) {
			cert, err := tls.LoadX509KeyPair(paths[0], paths[1])
			if err != nil {
				return nil, fmt.Errorf("TLS_CERT_FILE/TLS_KEY_FILE: %w", err)
			}
			return &cert, nil
		},
		reloaded: "TLS files reloaded",
		failed:   "TLS certificate files changed but do not load: serving with the previous certificate",
	}}
	if err := t.pair.load(); err != nil {
		return nil, err
	}
	if ca := cfg.TLSClientCAFile; ca != "" {
		t.clientCA = &watchedFiles[*x509.CertPool]{
			paths: []string{ca}, names: []string{"TLS_CLIENT_CA_FILE"}, log: logger,
			build:      func() (*x509.CertPool, error) { return loadClientCA(ca) },
			reloaded:   "TLS files reloaded: client CA",
			failed:     "TLS_CLIENT_CA_FILE unusable: every call to the Tech Adapter API is refused until it is fixed",
			failClosed: true,
		}
		if err := t.clientCA.load(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// config is the server's tls.Config: each handshake gets the files of the moment.
func (t *apiTLS) config() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return t.handshakeConfig(), nil
	}}
}

// handshakeConfig is the configuration of one handshake.
//
// With a client CA, the TLS layer verifies a client certificate only if one is given
// (VerifyClientCertIfGiven): a certificate from another CA, expired, or not meant for client
// authentication fails the handshake, but a connection without one goes through, because
// Kubernetes probes cannot present one and /health must answer them. The API's middleware
// (api.Auth.ClientCert) then refuses every Tech Adapter route without a verified certificate.
// While the client CA is unusable no certificate is asked for (nothing could verify it), and the
// middleware refuses every call with what the platform team must fix.
//
// Session tickets are off with a client CA: a resumed session would skip verifying the
// certificate against the current CA bundle after a rotation, and the Coordinator's few
// connections do not need them.
func (t *apiTLS) handshakeConfig() *tls.Config {
	config := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{*t.pair.current()},
		NextProtos:   []string{"h2", "http/1.1"},
	}
	if t.clientCA != nil {
		config.SessionTicketsDisabled = true
		if pool, err := t.clientCA.state(); err == nil {
			config.ClientCAs = pool
			config.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	return config
}

// clientCAStatus is api.Auth's ClientCAStatus: nil while the client CA loads.
func (t *apiTLS) clientCAStatus() error {
	_, err := t.clientCA.state()
	return err
}

// loadClientCA reads a PEM bundle of client CAs.
func loadClientCA(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fileError("TLS_CLIENT_CA_FILE", path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("TLS_CLIENT_CA_FILE %s holds no PEM certificate", path)
	}
	return pool, nil
}

// watchedFiles holds what build makes of a set of files (the API's certificate and key, its
// client CA; the Temporal client's certificate and key) and builds it again when one of them
// changes (cert-manager renewing a certificate, a rotated CA bundle), so they are picked up
// without a restart. Every use stats the files (a few microseconds against a handshake's
// milliseconds). A change that does not build (a half-written pair, a broken bundle, a file
// gone) is logged once per distinct problem and, by default, keeps the last good value: going
// on with a still-valid certificate opens nothing. With failClosed (files that grant trust, such
// as a client CA) it drops the value instead, and the files are read again at every use until
// they build.
type watchedFiles[T any] struct {
	paths      []string
	names      []string // the setting of each path, for errors
	build      func() (T, error)
	log        *slog.Logger
	reloaded   string // logged when a change is picked up
	failed     string // logged, once per distinct problem, when a change does not build
	failClosed bool   // a change that does not build drops the value (current is the zero T)

	mu      sync.Mutex
	stamps  []os.FileInfo // of the files last built; nil before the first build
	value   T             // never modified once built: handshakes share it
	built   bool          // value is the files' as they are stamped
	problem string
	err     error // why the files do not build now, while failClosed dropped the value
}

// load builds the value if the files changed since the last build (or were never built).
func (f *watchedFiles[T]) load() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loadIfChanged()
}

// current is the value of the files of the moment, or the last good one (the zero T once a
// failClosed set of files went bad).
func (f *watchedFiles[T]) current() T {
	value, _ := f.state()
	return value
}

// state is current, and for failClosed files the problem that dropped the value (nil while
// they build).
func (f *watchedFiles[T]) state() (T, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	err := f.loadIfChanged()
	if err != nil {
		if msg := err.Error(); msg != f.problem {
			f.problem = msg
			f.log.Error(f.failed, "error", msg)
		}
		if f.failClosed {
			var zero T
			f.value, f.built, f.err = zero, false, err
		}
	}
	return f.value, f.err
}

// loadIfChanged builds the value when a file is not the one last built. f.mu is held.
func (f *watchedFiles[T]) loadIfChanged() error {
	stamps := make([]os.FileInfo, len(f.paths))
	changed := !f.built
	for i, p := range f.paths {
		fi, err := os.Stat(p)
		if err != nil {
			return fileError(f.names[i], p, err)
		}
		stamps[i] = fi
		if !changed {
			old := f.stamps[i]
			changed = !os.SameFile(fi, old) || fi.Size() != old.Size() || !fi.ModTime().Equal(old.ModTime())
		}
	}
	if !changed {
		return nil
	}
	value, err := f.build()
	if err != nil {
		return err
	}
	if f.stamps != nil {
		f.log.Info(f.reloaded, "files", f.paths)
	}
	f.value, f.built, f.stamps, f.problem, f.err = value, true, stamps, "", nil
	return nil
}

// fileError names the setting and the file of an error reading it: "SETTING: path: reason".
func fileError(setting, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return fmt.Errorf("%s: %s: %w", setting, path, err)
}
