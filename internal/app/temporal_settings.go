package app

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/envconfig"
	"google.golang.org/grpc/codes"
)

// TemporalEnv is a fixed environment for TemporalConfig.Env: the variables of a test, or none at
// all for the local stack, which must not pick up a developer's own Temporal settings. Unlike
// the process environment, it reads no default profile file, only TEMPORAL_CONFIG_FILE's.
type TemporalEnv map[string]string

// Environ lists the variables as os.Environ does.
func (e TemporalEnv) Environ() []string {
	out := make([]string, 0, len(e))
	for _, k := range slices.Sorted(maps.Keys(e)) {
		out = append(out, k+"="+e[k])
	}
	return out
}

// LookupEnv looks a variable up as os.LookupEnv does.
func (e TemporalEnv) LookupEnv(key string) (string, bool) {
	v, ok := e[key]
	return v, ok
}

// String names the variables set, never their values (an API key, a private key): a
// TemporalConfig printed with %v or %+v shows no secret.
func (e TemporalEnv) String() string {
	return "TemporalEnv" + fmt.Sprint(slices.Sorted(maps.Keys(e)))
}

// GoString is String, for %#v.
func (e TemporalEnv) GoString() string { return e.String() }

// temporalSettings is Temporal's client configuration resolved for one dial, with where each
// setting came from, so that an error names what to fix: the variable when it is set, else the
// profile's key.
type temporalSettings struct {
	prof    envconfig.ClientConfigProfile // what the client dials with
	inFile  envconfig.ClientConfigProfile // what the profile file set
	env     envconfig.EnvLookup
	file    string // the profile file read, "" for none
	profile string // the profile's name
	cfg     TemporalConfig
}

// settings resolves c: the profile of the file (TEMPORAL_CONFIG_FILE, or the CLI's default one
// with the process environment), the variables over it, Address and Namespace over both.
func (c TemporalConfig) settings() (*temporalSettings, error) {
	s := &temporalSettings{env: c.Env, cfg: c}
	osEnv := c.Env == nil || c.Env == envconfig.EnvLookupOS
	if s.env == nil {
		s.env = envconfig.EnvLookupOS
	}
	s.env = nonEmptyEnv{s.env}
	file, explicit := s.env.LookupEnv("TEMPORAL_CONFIG_FILE")
	explicit = explicit && file != ""
	where := "TEMPORAL_CONFIG_FILE is not set"
	if !explicit && osEnv {
		if file = envconfig.DefaultConfigFilePath(); file != "" {
			where += " and the default file " + file + " does not exist"
		}
	}
	s.profile, _ = s.env.LookupEnv("TEMPORAL_PROFILE")
	profileSet := s.profile != ""
	if !profileSet {
		s.profile = envconfig.DefaultConfigFileProfile
	}
	if file != "" {
		if _, err := os.Stat(file); err != nil {
			// Temporal's loader takes a missing file for an empty one. A file named on purpose
			// that is not there (a Secret not mounted, a typo) is an error rather than a silent
			// fall back to localhost.
			if explicit || !errors.Is(err, os.ErrNotExist) {
				return nil, fileError("TEMPORAL_CONFIG_FILE", file, err)
			}
			file = ""
		}
	}
	if file != "" {
		conf, err := envconfig.LoadClientConfig(envconfig.LoadClientConfigOptions{ConfigFilePath: file})
		if err != nil {
			return nil, configFileError(file, err)
		}
		p, ok := conf.Profiles[s.profile]
		switch {
		case ok:
			s.inFile, s.file = *p, file
		case profileSet:
			return nil, fmt.Errorf("TEMPORAL_PROFILE: profile %q is not in %s (it has %s)", s.profile, file, profileNames(conf))
		}
	} else if profileSet {
		return nil, fmt.Errorf("TEMPORAL_PROFILE: profile %q, but there is no profile file (%s)", s.profile, where)
	}

	// The variables over the file's profile, on a copy: ApplyEnvVars changes TLS and GRPCMeta in
	// place, and inFile must stay what the file says.
	s.prof = s.inFile
	if s.inFile.TLS != nil {
		t := *s.inFile.TLS
		s.prof.TLS = &t
	}
	s.prof.GRPCMeta = maps.Clone(s.inFile.GRPCMeta)
	if err := s.prof.ApplyEnvVars(s.env); err != nil {
		return nil, fmt.Errorf("Temporal client configuration: %w", err)
	}
	if c.Address != "" {
		s.prof.Address = c.Address
	}
	if c.Namespace != "" {
		s.prof.Namespace = c.Namespace
	}
	if s.prof.Address == "" {
		s.prof.Address = client.DefaultHostPort
	}
	if s.prof.Namespace == "" {
		s.prof.Namespace = client.DefaultNamespace
	}
	return s, nil
}

// configFileError describes a profile file that does not parse without quoting it: it may hold
// an API key or a private key.
func configFileError(file string, err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		where := fmt.Sprintf("line %d", pe.Position.Line)
		if pe.LastKey != "" {
			where += fmt.Sprintf(" (after key %s)", pe.LastKey)
		}
		return fmt.Errorf("TEMPORAL_CONFIG_FILE: %s: not a valid TOML file, %s", file, where)
	}
	return fmt.Errorf("TEMPORAL_CONFIG_FILE: %s: not a valid Temporal profile file", file)
}

func profileNames(conf envconfig.ClientConfig) string {
	names := slices.Sorted(maps.Keys(conf.Profiles))
	if len(names) == 0 {
		return "no profile"
	}
	return "profiles " + strings.Join(names, ", ")
}

// name is how an error names a setting: the variable when it is set (or when the file does not
// set it either: the variable is then how to set it), else the profile's key.
func (s *temporalSettings) name(envVar, key string, inFile bool) string {
	if _, set := s.env.LookupEnv(envVar); set || !inFile || s.file == "" {
		return envVar
	}
	return fmt.Sprintf("profile %q %s in %s", s.profile, key, s.file)
}

func (s *temporalSettings) fileTLS() envconfig.ClientConfigTLS {
	if s.inFile.TLS == nil {
		return envconfig.ClientConfigTLS{}
	}
	return *s.inFile.TLS
}

func (s *temporalSettings) tls() envconfig.ClientConfigTLS {
	if s.prof.TLS == nil {
		return envconfig.ClientConfigTLS{}
	}
	return *s.prof.TLS
}

// tlsOn is envconfig's rule: a TLS section (or variable) not disabled, or else an API key.
func (s *temporalSettings) tlsOn() bool {
	if s.prof.TLS != nil {
		return !s.prof.TLS.Disabled
	}
	return s.prof.APIKey != ""
}

func (s *temporalSettings) namespaceName() string {
	if s.cfg.Namespace != "" {
		return "TEMPORAL_NAMESPACE"
	}
	return s.name("TEMPORAL_NAMESPACE", "namespace", s.inFile.Namespace != "")
}

func (s *temporalSettings) apiKeyName() string {
	return s.name("TEMPORAL_API_KEY", "api_key", s.inFile.APIKey != "")
}

func (s *temporalSettings) tlsName() string {
	return s.name("TEMPORAL_TLS", "tls.disabled", s.inFile.TLS != nil && s.inFile.TLS.Disabled)
}

// material is one piece of TLS material: given as a file (path) or inline (data), and the
// setting that gave it.
type material struct {
	setting string
	path    string
	data    []byte
}

func (m material) set() bool { return m.path != "" || len(m.data) > 0 }

// errorf prefixes the setting and, for a file, its path: "SETTING: path: problem".
func (m material) errorf(format string, args ...any) error {
	where := m.setting
	if m.path != "" {
		where += ": " + m.path
	}
	return fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...))
}

// read returns the material's bytes.
func (m material) read() ([]byte, error) {
	if m.path == "" {
		return m.data, nil
	}
	b, err := os.ReadFile(m.path)
	if err != nil {
		return nil, fileError(m.setting, m.path, err)
	}
	return b, nil
}

// pick is the material of a pair of settings, TEMPORAL_TLS_<name>_PATH and _DATA (tls.<key>_path
// and _data in a profile): path and data are the resolved values, filePath and fileData the
// file's. Both set is an error.
func (s *temporalSettings) pick(name, key, path string, data []byte, filePath string, fileData []byte) (material, error) {
	pathName := s.name("TEMPORAL_TLS_"+name+"_PATH", "tls."+key+"_path", filePath != "")
	dataName := s.name("TEMPORAL_TLS_"+name+"_DATA", "tls."+key+"_data", len(fileData) > 0)
	switch {
	case path != "" && len(data) > 0:
		return material{}, fmt.Errorf("%s and %s are both set: give one of them", pathName, dataName)
	case path != "":
		return material{setting: pathName, path: path}, nil
	case len(data) > 0:
		return material{setting: dataName, data: data}, nil
	}
	return material{setting: pathName}, nil
}

// clientOptions builds the client's options with envconfig, after checking the TLS material and
// the API key, and installs the reloading client certificate when it comes from files.
func (s *temporalSettings) clientOptions(logger *slog.Logger) (client.Options, error) {
	prof := s.prof
	if prof.APIKey != "" {
		if err := checkAPIKey(prof.APIKey); err != nil {
			return client.Options{}, fmt.Errorf("%s: %w", s.apiKeyName(), err)
		}
	}
	var pair *watchedFiles[*tls.Certificate]
	if s.tlsOn() && prof.TLS != nil {
		t := *prof.TLS
		prof.TLS = &t
		ft := s.fileTLS()
		cert, err := s.pick("CLIENT_CERT", "client_cert", t.ClientCertPath, t.ClientCertData, ft.ClientCertPath, ft.ClientCertData)
		if err != nil {
			return client.Options{}, err
		}
		key, err := s.pick("CLIENT_KEY", "client_key", t.ClientKeyPath, t.ClientKeyData, ft.ClientKeyPath, ft.ClientKeyData)
		if err != nil {
			return client.Options{}, err
		}
		ca, err := s.pick("SERVER_CA_CERT", "server_ca_cert", t.ServerCACertPath, t.ServerCACertData, ft.ServerCACertPath, ft.ServerCACertData)
		if err != nil {
			return client.Options{}, err
		}
		switch {
		case cert.set() != key.set():
			set, unset := cert, key
			if key.set() {
				set, unset = key, cert
			}
			return client.Options{}, fmt.Errorf("%s is set but not %s: a client certificate needs both, or neither", set.setting, unset.setting)
		case cert.set() && (cert.path == "") != (key.path == ""):
			return client.Options{}, fmt.Errorf("%s and %s: give the client certificate and its key both as files or both inline", cert.setting, key.setting)
		case cert.path != "":
			pair = &watchedFiles[*tls.Certificate]{
				paths: []string{cert.path, key.path}, names: []string{cert.setting, key.setting}, log: logger,
				build:    func() (*tls.Certificate, error) { return loadClientCertificate(cert, key) },
				reloaded: "Temporal client certificate reloaded",
				failed:   "Temporal client certificate files changed but do not load: presenting the previous certificate",
			}
			if err := pair.load(); err != nil {
				return client.Options{}, err
			}
			// The certificate comes from GetClientCertificate below, read again when it changes.
			t.ClientCertPath, t.ClientKeyPath = "", ""
		case cert.set():
			if _, err := loadClientCertificate(cert, key); err != nil {
				return client.Options{}, err
			}
		}
		if ca.set() {
			pemBytes, err := ca.read()
			if err != nil {
				return client.Options{}, err
			}
			if !x509.NewCertPool().AppendCertsFromPEM(pemBytes) {
				return client.Options{}, ca.errorf("no PEM certificate found")
			}
			// What was checked is what is used: no second read of the file.
			t.ServerCACertPath, t.ServerCACertData = "", pemBytes
		}
	}
	opts, err := prof.ToClientOptions(envconfig.ToClientOptionsRequest{})
	if err != nil {
		return client.Options{}, fmt.Errorf("Temporal client configuration: %w", err)
	}
	if pair != nil {
		opts.ConnectionOptions.TLS.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return pair.current(), nil
		}
	}
	opts.Logger = newSDKLogger(logger)
	return opts, nil
}

// loadClientCertificate checks and loads a client certificate and its key, naming the setting
// of the one that is wrong. Errors never quote the key.
func loadClientCertificate(cert, key material) (*tls.Certificate, error) {
	certPEM, err := cert.read()
	if err != nil {
		return nil, err
	}
	der := firstPEM(certPEM, func(typ string) bool { return typ == "CERTIFICATE" })
	if der == nil {
		return nil, cert.errorf("no PEM certificate found")
	}
	if _, err := x509.ParseCertificate(der); err != nil {
		return nil, cert.errorf("not a valid certificate: %v", err)
	}
	keyPEM, err := key.read()
	if err != nil {
		return nil, err
	}
	if firstPEM(keyPEM, func(typ string) bool { return strings.HasSuffix(typ, "PRIVATE KEY") }) == nil {
		return nil, key.errorf("no PEM private key found")
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		if strings.Contains(err.Error(), "does not match") {
			return nil, key.errorf("the key does not match the certificate of %s", cert.setting)
		}
		return nil, key.errorf("not a valid private key: %v", err)
	}
	return &pair, nil
}

// firstPEM is the content of the first PEM block of a wanted type.
func firstPEM(b []byte, want func(string) bool) []byte {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil
		}
		if want(block.Type) {
			return block.Bytes
		}
	}
}

// checkAPIKey refuses a key that cannot go in a gRPC header; the error does not quote it.
func checkAPIKey(key string) error {
	for _, r := range key {
		if r <= ' ' || r > '~' {
			return errors.New("holds a space, a line break or a non-printable character (a trailing newline from the file it was read from?)")
		}
	}
	return nil
}

// redact removes the API key from a message (a server may quote what it refused).
func (s *temporalSettings) redact(msg string) string {
	if s.prof.APIKey == "" {
		return msg
	}
	return strings.ReplaceAll(msg, s.prof.APIKey, "[redacted]")
}

// warnings logs the settings that work but weaken the connection.
func (s *temporalSettings) warnings(logger *slog.Logger) {
	if s.prof.APIKey != "" && !s.tlsOn() {
		logger.Warn(fmt.Sprintf("%s is set but TLS is off (%s): the API key crosses the network in clear text", s.apiKeyName(), s.tlsName()))
	}
	if s.tlsOn() && s.tls().DisableHostVerification {
		logger.Warn("TEMPORAL_TLS_DISABLE_HOST_VERIFICATION: the Temporal server's certificate is not verified")
	}
}

// connectedAttrs describe the connection for the log, without secrets.
func (s *temporalSettings) connectedAttrs() []any {
	attrs := []any{"address", s.prof.Address, "namespace", s.prof.Namespace, "tls", s.tlsOn(),
		"apiKey", s.prof.APIKey != "", "clientCertificate", s.tlsOn() && (s.tls().ClientCertPath != "" || len(s.tls().ClientCertData) > 0)}
	if s.file != "" {
		attrs = append(attrs, "profile", s.profile, "profileFile", s.file)
	}
	return attrs
}

// credentialName names what authenticates the client, for a refusal by the server: the API key,
// else the client certificate.
func (s *temporalSettings) credentialName() string {
	if s.prof.APIKey != "" {
		return s.apiKeyName()
	}
	if name := s.certName(); name != "" {
		return name
	}
	return "TEMPORAL_API_KEY (or TEMPORAL_TLS_CLIENT_CERT_PATH)"
}

// certName names the client certificate's setting, "" without one.
func (s *temporalSettings) certName() string {
	t, ft := s.tls(), s.fileTLS()
	switch {
	case !s.tlsOn():
	case t.ClientCertPath != "":
		return s.name("TEMPORAL_TLS_CLIENT_CERT_PATH", "tls.client_cert_path", ft.ClientCertPath != "")
	case len(t.ClientCertData) > 0:
		return s.name("TEMPORAL_TLS_CLIENT_CERT_DATA", "tls.client_cert_data", len(ft.ClientCertData) > 0)
	}
	return ""
}

// explain returns the error to stop with when err is one retrying cannot fix, naming the
// setting; nil when retrying may help (the frontend unreachable, or not up yet).
//
// TLS failures reach the SDK as the message of an Unavailable status, hence the matching of
// crypto/tls and crypto/x509 messages.
func (s *temporalSettings) explain(err error) error {
	addr, ns := s.prof.Address, s.prof.Namespace
	msg := s.redact(err.Error())
	fail := func(format string, args ...any) error {
		return &temporalError{msg: fmt.Sprintf(format, args...) + " (" + msg + ")", err: err}
	}
	var nsNotFound *serviceerror.NamespaceNotFound
	switch code := serviceerror.ToStatus(err).Code(); {
	case code == codes.Unauthenticated:
		return fail("%s: Temporal at %s refused the credentials", s.credentialName(), addr)
	case code == codes.PermissionDenied:
		return fail("%s: the credentials may not use namespace %q at %s", s.credentialName(), ns, addr)
	case errors.As(err, &nsNotFound) || code == codes.NotFound && strings.Contains(strings.ToLower(msg), "namespace"):
		return fail("%s: namespace %q does not exist at %s", s.namespaceName(), ns, addr)
	}

	t, ft := s.tls(), s.fileTLS()
	caName := s.name("TEMPORAL_TLS_SERVER_CA_CERT_PATH", "tls.server_ca_cert_path", ft.ServerCACertPath != "")
	if len(t.ServerCACertData) > 0 && t.ServerCACertPath == "" {
		caName = s.name("TEMPORAL_TLS_SERVER_CA_CERT_DATA", "tls.server_ca_cert_data", len(ft.ServerCACertData) > 0)
	}
	serverName := s.name("TEMPORAL_TLS_SERVER_NAME", "tls.server_name", ft.ServerName != "")
	switch {
	case strings.Contains(msg, "remote error: tls:") && (strings.Contains(msg, "certificate") || strings.Contains(msg, "access denied")):
		name := s.certName()
		if name == "" {
			return fail("TEMPORAL_TLS_CLIENT_CERT_PATH: Temporal at %s refused the connection without a client certificate: set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH", addr)
		}
		return fail("%s: Temporal at %s refused the client certificate", name, addr)
	case strings.Contains(msg, "x509: certificate is valid for"), strings.Contains(msg, "x509: certificate is not valid for any names"),
		strings.Contains(msg, "doesn't contain any IP SANs"):
		if t.ServerName == "" {
			return fail("%s: the certificate of Temporal at %s is not for the address's host: set %s to a name it holds", serverName, addr, serverName)
		}
		return fail("%s: the certificate of Temporal at %s is not for %q", serverName, addr, t.ServerName)
	case strings.Contains(msg, "x509: certificate signed by unknown authority"):
		if t.ServerCACertPath == "" && len(t.ServerCACertData) == 0 {
			return fail("%s: the certificate of Temporal at %s is not signed by a CA of the system's roots; set %s to its CA (check %s too)", caName, addr, caName, serverName)
		}
		return fail("%s: the certificate of Temporal at %s is not signed by this CA (check %s too)", caName, addr, serverName)
	case strings.Contains(msg, "x509: "):
		return fail("%s / %s: the certificate of Temporal at %s does not verify", caName, serverName, addr)
	case strings.Contains(msg, "first record does not look like a TLS handshake"):
		why := s.tlsName()
		if s.prof.TLS == nil {
			why = s.apiKeyName() + " (an API key turns TLS on unless TEMPORAL_TLS=false)"
		}
		return fail("%s: Temporal at %s does not speak TLS, and the client uses TLS because of %s", s.tlsName(), addr, why)
	case strings.Contains(msg, "tls: "), strings.Contains(msg, "ALPN"):
		// A protocol failure; a handshake cut by the network (EOF, reset) is retried instead.
		return fail("TEMPORAL_TLS: the TLS handshake with Temporal at %s failed; check the TEMPORAL_TLS_* settings", addr)
	}
	return nil
}

// nonEmptyEnv hides the variables set to the empty string. Temporal's loader takes a variable
// that is set for a value, so TEMPORAL_TLS_SERVER_NAME="" would turn TLS on; compose files
// (${VAR:-}) and charts render unset settings as empty ones, and an operator means "unset".
type nonEmptyEnv struct{ envconfig.EnvLookup }

func (e nonEmptyEnv) Environ() []string {
	var out []string
	for _, kv := range e.EnvLookup.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok && k != "" && v != "" {
			out = append(out, kv)
		}
	}
	return out
}

func (e nonEmptyEnv) LookupEnv(key string) (string, bool) {
	v, ok := e.EnvLookup.LookupEnv(key)
	return v, ok && v != ""
}
