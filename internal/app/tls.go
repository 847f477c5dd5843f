package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
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
	case cfg.AuthTokenGracePeriod < 0:
		return errors.New("AUTH_TOKEN_GRACE_PERIOD must not be negative")
	}
	return nil
}

// apiAuth is the access control of the Tech Adapter routes that cfg configures.
func apiAuth(cfg APIConfig, logger *slog.Logger) api.Auth {
	var auth api.Auth
	if cfg.AuthTokenFile != "" {
		auth.Token = api.NewTokenFile(cfg.AuthTokenFile, cfg.AuthTokenGracePeriod, logger)
	}
	auth.ClientCert = cfg.TLSClientCAFile != ""
	return auth
}

// newAPITLSConfig returns the TLS configuration of the API, or nil when it serves plain HTTP.
// The files are read now (an error stops the start-up) and again when they change, see
// watchedFiles.
func newAPITLSConfig(cfg APIConfig, logger *slog.Logger) (*tls.Config, error) {
	if cfg.TLSCertFile == "" {
		return nil, nil
	}
	paths := []string{cfg.TLSCertFile, cfg.TLSKeyFile}
	names := []string{"TLS_CERT_FILE", "TLS_KEY_FILE"}
	if cfg.TLSClientCAFile != "" {
		paths, names = append(paths, cfg.TLSClientCAFile), append(names, "TLS_CLIENT_CA_FILE")
	}
	files := &watchedFiles[*tls.Config]{
		paths: paths, names: names, log: logger,
		build:    func() (*tls.Config, error) { return buildTLSConfig(paths) },
		reloaded: "TLS files reloaded",
		failed:   "TLS files changed but do not load: serving with the previous certificate and client CA",
	}
	if err := files.load(); err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return files.current(), nil
	}}, nil
}

// watchedFiles holds what build makes of a set of files (the API's TLS configuration from its
// certificate, key and client CA; the Temporal client's certificate and key) and builds it again
// when one of them changes (cert-manager renewing a certificate, a rotated CA bundle), so they
// are picked up without a restart. Every use stats the files (a few microseconds against a
// handshake's milliseconds); a change that does not build (a half-written pair, a broken
// bundle) keeps the last good value and is logged once: going on with a still-valid
// certificate and the CA already trusted opens nothing.
type watchedFiles[T any] struct {
	paths    []string
	names    []string // the setting of each path, for errors
	build    func() (T, error)
	log      *slog.Logger
	reloaded string // logged when a change is picked up
	failed   string // logged, once per distinct problem, when a change does not build

	mu      sync.Mutex
	stamps  []os.FileInfo
	value   T // never modified once built: handshakes share it
	built   bool
	problem string
}

// load builds the value if the files changed since the last build (or were never built).
func (f *watchedFiles[T]) load() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loadIfChanged()
}

// current is the value of the files of the moment, or the last good one.
func (f *watchedFiles[T]) current() T {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.loadIfChanged(); err != nil {
		if msg := err.Error(); msg != f.problem {
			f.problem = msg
			f.log.Error(f.failed, "error", msg)
		}
	}
	return f.value
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
	if f.built {
		f.log.Info(f.reloaded, "files", f.paths)
	}
	f.value, f.built, f.stamps, f.problem = value, true, stamps, ""
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

// buildTLSConfig is the configuration of one version of the files.
//
// With a client CA, the TLS layer verifies a client certificate only if one is given
// (VerifyClientCertIfGiven): a certificate from another CA, expired, or not meant for client
// authentication fails the handshake, but a connection without one goes through, because
// Kubernetes probes cannot present one and /health must answer them. The API's middleware
// (api.Auth.ClientCert) then refuses every Tech Adapter route without a verified certificate.
//
// Session tickets are off: a resumed session would skip verifying the certificate against the
// current CA bundle after a rotation, and the Coordinator's few connections do not need them.
func buildTLSConfig(paths []string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(paths[0], paths[1])
	if err != nil {
		return nil, fmt.Errorf("TLS_CERT_FILE/TLS_KEY_FILE: %w", err)
	}
	config := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		NextProtos:   []string{"h2", "http/1.1"},
	}
	if len(paths) > 2 {
		pem, err := os.ReadFile(paths[2])
		if err != nil {
			return nil, fmt.Errorf("TLS_CLIENT_CA_FILE: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("TLS_CLIENT_CA_FILE %s holds no PEM certificate", paths[2])
		}
		config.ClientCAs = pool
		config.ClientAuth = tls.VerifyClientCertIfGiven
		config.SessionTicketsDisabled = true
	}
	return config, nil
}
