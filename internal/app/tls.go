package app

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
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
// tlsFiles.
func newAPITLSConfig(cfg APIConfig, logger *slog.Logger) (*tls.Config, error) {
	if cfg.TLSCertFile == "" {
		return nil, nil
	}
	files := &tlsFiles{paths: []string{cfg.TLSCertFile, cfg.TLSKeyFile}, log: logger}
	if cfg.TLSClientCAFile != "" {
		files.paths = append(files.paths, cfg.TLSClientCAFile)
	}
	if err := files.load(); err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetConfigForClient: files.configForClient}, nil
}

// tlsFiles holds the configuration built from the certificate, key and client CA files, and
// rebuilds it when one of them changes (cert-manager renewing the certificate, a rotated CA
// bundle), so they are picked up without a restart. Each handshake stats the files (a few
// microseconds against a handshake's milliseconds); a change that does not load (a half-written
// pair, a broken bundle) keeps the last good configuration and is logged once: serving with our
// still-valid certificate and the CA we already trust opens nothing.
type tlsFiles struct {
	paths []string // certificate, key and, for mutual TLS, client CA
	log   *slog.Logger

	mu      sync.Mutex
	stamps  []os.FileInfo
	config  *tls.Config // never modified once built: handshakes share it
	problem string
}

// configForClient is the tls.Config.GetConfigForClient of the API.
func (f *tlsFiles) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.loadIfChanged(); err != nil {
		if msg := err.Error(); msg != f.problem {
			f.problem = msg
			f.log.Error("TLS files changed but do not load: serving with the previous certificate and client CA", "error", msg)
		}
	}
	return f.config, nil
}

func (f *tlsFiles) load() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.loadIfChanged()
}

// loadIfChanged rebuilds the configuration when a file is not the one last loaded. f.mu is held.
func (f *tlsFiles) loadIfChanged() error {
	stamps := make([]os.FileInfo, len(f.paths))
	changed := f.config == nil
	for i, p := range f.paths {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("TLS file: %w", err)
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
	config, err := buildTLSConfig(f.paths)
	if err != nil {
		return err
	}
	if f.config != nil {
		f.log.Info("TLS files reloaded", "files", f.paths)
	}
	f.config, f.stamps, f.problem = config, stamps, ""
	return nil
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
