package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goenvconfig "github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/witboost-community/cde-spark-provisioner/internal/testsupport"
)

const testAPIKey = "tk-3f9a1c7e5b2d4068a1c3e5f7b9d0e2f4"

func TestTemporalClientOptions(t *testing.T) {
	dir := t.TempDir()
	profiles := filepath.Join(dir, "temporal.toml")
	require.NoError(t, os.WriteFile(profiles, []byte(`
[profile.default]
address = "default.example:7233"

[profile.prod]
address = "prod.example:7233"
namespace = "prod-ns"
[profile.prod.tls]
server_name = "frontend.prod.example"
[profile.prod.grpc_meta]
x-tenant = "cde"
`), 0o600))

	tests := []struct {
		name     string
		cfg      TemporalConfig
		hostPort string
		ns       string
		check    func(t *testing.T, o clientOptionsView)
	}{
		{"nothing set: today's defaults, plain text", TemporalConfig{}, "localhost:7233", "default", func(t *testing.T, o clientOptionsView) {
			assert.Nil(t, o.TLS)
			assert.False(t, o.APIKey)
		}},
		{"the variables", TemporalConfig{Env: TemporalEnv{
			"TEMPORAL_ADDRESS": "temporal.example:7233", "TEMPORAL_NAMESPACE": "team",
			"TEMPORAL_TLS": "true", "TEMPORAL_TLS_SERVER_NAME": "frontend.example",
		}}, "temporal.example:7233", "team", func(t *testing.T, o clientOptionsView) {
			require.NotNil(t, o.TLS)
			assert.Equal(t, "frontend.example", o.TLS.ServerName)
		}},
		{"an API key turns TLS on", TemporalConfig{Env: TemporalEnv{"TEMPORAL_API_KEY": testAPIKey}}, "localhost:7233", "default", func(t *testing.T, o clientOptionsView) {
			assert.True(t, o.APIKey)
			assert.NotNil(t, o.TLS)
		}},
		{"an API key with TEMPORAL_TLS=false goes in plain text", TemporalConfig{Env: TemporalEnv{"TEMPORAL_API_KEY": testAPIKey, "TEMPORAL_TLS": "false"}}, "localhost:7233", "default", func(t *testing.T, o clientOptionsView) {
			assert.True(t, o.APIKey)
			assert.Nil(t, o.TLS)
			assert.True(t, o.TLSDisabled)
		}},
		{"the default profile of TEMPORAL_CONFIG_FILE", TemporalConfig{Env: TemporalEnv{"TEMPORAL_CONFIG_FILE": profiles}}, "default.example:7233", "default", nil},
		{"a profile of TEMPORAL_CONFIG_FILE chosen by TEMPORAL_PROFILE", TemporalConfig{Env: TemporalEnv{
			"TEMPORAL_CONFIG_FILE": profiles, "TEMPORAL_PROFILE": "prod",
		}}, "prod.example:7233", "prod-ns", func(t *testing.T, o clientOptionsView) {
			require.NotNil(t, o.TLS)
			assert.Equal(t, "frontend.prod.example", o.TLS.ServerName)
			assert.True(t, o.Headers)
		}},
		{"a variable wins over the profile", TemporalConfig{Env: TemporalEnv{
			"TEMPORAL_CONFIG_FILE": profiles, "TEMPORAL_PROFILE": "prod", "TEMPORAL_NAMESPACE": "from-env",
		}}, "prod.example:7233", "from-env", nil},
		{"Address and Namespace win over variables and profile", TemporalConfig{Address: "127.0.0.1:7233", Namespace: "explicit", Env: TemporalEnv{
			"TEMPORAL_CONFIG_FILE": profiles, "TEMPORAL_PROFILE": "prod", "TEMPORAL_ADDRESS": "env.example:7233", "TEMPORAL_NAMESPACE": "from-env",
		}}, "127.0.0.1:7233", "explicit", func(t *testing.T, o clientOptionsView) {
			require.NotNil(t, o.TLS, "the rest of the profile still applies")
			assert.Equal(t, "frontend.prod.example", o.TLS.ServerName)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.cfg.Env == nil {
				tt.cfg.Env = TemporalEnv{}
			}
			opts, err := tt.cfg.ClientOptions(slog.New(slog.DiscardHandler))
			require.NoError(t, err)
			assert.Equal(t, tt.hostPort, opts.HostPort)
			assert.Equal(t, tt.ns, opts.Namespace)
			assert.NotNil(t, opts.Logger)
			ns, err := tt.cfg.ResolvedNamespace()
			require.NoError(t, err)
			assert.Equal(t, tt.ns, ns, "what RegisterSearchAttributes and the logs use")
			if tt.check != nil {
				tt.check(t, clientOptionsView{
					TLS: opts.ConnectionOptions.TLS, TLSDisabled: opts.ConnectionOptions.TLSDisabled,
					APIKey: opts.Credentials != nil, Headers: opts.HeadersProvider != nil,
				})
			}
		})
	}
}

type clientOptionsView struct {
	TLS         *tls.Config
	TLSDisabled bool
	APIKey      bool
	Headers     bool
}

func TestTemporalProfileErrorsNameTheSetting(t *testing.T) {
	dir := t.TempDir()
	profiles := filepath.Join(dir, "temporal.toml")
	require.NoError(t, os.WriteFile(profiles, []byte("[profile.prod]\naddress = \"prod.example:7233\"\n"), 0o600))
	broken := filepath.Join(dir, "broken.toml")
	require.NoError(t, os.WriteFile(broken, []byte("[profile.prod]\napi_key = "+testAPIKey+"\n"), 0o600))
	tests := []struct {
		name string
		env  TemporalEnv
		err  string
	}{
		{"a profile that is not in the file", TemporalEnv{"TEMPORAL_CONFIG_FILE": profiles, "TEMPORAL_PROFILE": "staging"},
			`TEMPORAL_PROFILE: profile "staging" is not in ` + profiles + " (it has profiles prod)"},
		{"a profile without a file", TemporalEnv{"TEMPORAL_PROFILE": "prod"}, `TEMPORAL_PROFILE: profile "prod", but there is no profile file (TEMPORAL_CONFIG_FILE is not set)`},
		{"a file that is not there", TemporalEnv{"TEMPORAL_CONFIG_FILE": filepath.Join(dir, "absent.toml")},
			"TEMPORAL_CONFIG_FILE: " + filepath.Join(dir, "absent.toml") + ": no such file or directory"},
		{"a file that is not TOML, not quoted", TemporalEnv{"TEMPORAL_CONFIG_FILE": broken}, "TEMPORAL_CONFIG_FILE: " + broken + ": not a valid TOML file, line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := TemporalConfig{Env: tt.env}.ClientOptions(slog.New(slog.DiscardHandler))
			require.Error(t, err)
			t.Log(err)
			assert.Contains(t, err.Error(), tt.err)
			assert.NotContains(t, err.Error(), testAPIKey)
		})
	}
}

// TestTemporalConfigFromTheEnvironment: go-envconfig fills the fields of ours and leaves Env
// alone (untagged and not a struct); `env:"-"` is no way to say so in v1.4.3, it is refused.
func TestTemporalConfigFromTheEnvironment(t *testing.T) {
	var cfg TemporalConfig
	require.NoError(t, goenvconfig.ProcessWith(context.Background(), &goenvconfig.Config{
		Target:   &cfg,
		Lookuper: goenvconfig.MapLookuper(map[string]string{"TEMPORAL_TASK_QUEUE": "q", "TEMPORAL_API_KEY": testAPIKey}),
	}))
	assert.Equal(t, TemporalConfig{TaskQueue: "q", SearchAttributes: true}, cfg, "no default address or namespace over a profile's")

	var dash struct {
		Env TemporalEnv `env:"-"`
	}
	err := goenvconfig.ProcessWith(context.Background(), &goenvconfig.Config{Target: &dash, Lookuper: goenvconfig.MapLookuper(nil)})
	assert.ErrorIs(t, err, goenvconfig.ErrInvalidEnvvarName)

	cfg.Env = TemporalEnv{"TEMPORAL_API_KEY": testAPIKey}
	assert.NotContains(t, fmt.Sprintf("%v %+v %#v", cfg, cfg, cfg), testAPIKey, "a printed configuration shows no secret")
}

// tlsFixture is the certificates of a Temporal frontend behind mutual TLS and of its clients.
type tlsFixture struct {
	p                   *testsupport.PKI
	serverCA, clientCA  testsupport.Issuer
	serverCert          tls.Certificate
	clientCert, keyFile string
}

func newTLSFixture(t *testing.T) *tlsFixture {
	p := testsupport.NewPKI(t)
	f := &tlsFixture{p: p, serverCA: p.CA("server-ca"), clientCA: p.CA("client-ca")}
	f.serverCert, _, _ = p.Leaf(f.serverCA, "frontend", testsupport.LeafOptions{Usage: x509.ExtKeyUsageServerAuth})
	_, f.clientCert, f.keyFile = p.Leaf(f.clientCA, "worker", testsupport.LeafOptions{Usage: x509.ExtKeyUsageClientAuth})
	return f
}

// env is the variables of a client of the fixture's frontend.
func (f *tlsFixture) env(addr string) TemporalEnv {
	return TemporalEnv{
		"TEMPORAL_ADDRESS":                 addr,
		"TEMPORAL_TLS_SERVER_CA_CERT_PATH": f.serverCA.File,
		"TEMPORAL_TLS_CLIENT_CERT_PATH":    f.clientCert,
		"TEMPORAL_TLS_CLIENT_KEY_PATH":     f.keyFile,
	}
}

func (f *tlsFixture) serverConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{f.serverCert},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool(f.clientCA),
		MinVersion:   tls.VersionTLS12,
	}
}

func TestBadTLSMaterialStopsTheStartNamingTheSetting(t *testing.T) {
	f := newTLSFixture(t)
	p := f.p
	garbage := filepath.Join(p.Dir, "garbage.pem")
	p.Write(garbage, []byte("not PEM at all"))
	_, otherCert, _ := p.Leaf(f.clientCA, "other", testsupport.LeafOptions{Usage: x509.ExtKeyUsageClientAuth})
	keyPEM, err := os.ReadFile(f.keyFile)
	require.NoError(t, err)
	keyLine := strings.Split(string(keyPEM), "\n")[1]
	profiles := filepath.Join(p.Dir, "temporal.toml")
	p.Write(profiles, []byte(fmt.Sprintf("[profile.prod.tls]\nclient_cert_path = %q\nclient_key_path = %q\n", garbage, f.keyFile)))

	// Nothing listens here: a check that let a bad setting through would retry for a minute.
	addr := closedAddr(t)
	tests := []struct {
		name   string
		change func(TemporalEnv)
		err    string
	}{
		{"a certificate file that is not PEM", func(e TemporalEnv) { e["TEMPORAL_TLS_CLIENT_CERT_PATH"] = garbage },
			"TEMPORAL_TLS_CLIENT_CERT_PATH: " + garbage + ": no PEM certificate found"},
		{"a missing key file", func(e TemporalEnv) { e["TEMPORAL_TLS_CLIENT_KEY_PATH"] = filepath.Join(p.Dir, "absent.key") },
			"TEMPORAL_TLS_CLIENT_KEY_PATH: " + filepath.Join(p.Dir, "absent.key") + ": no such file or directory"},
		{"a key that is not the certificate's", func(e TemporalEnv) { e["TEMPORAL_TLS_CLIENT_CERT_PATH"] = otherCert },
			"TEMPORAL_TLS_CLIENT_KEY_PATH: " + f.keyFile + ": the key does not match the certificate of TEMPORAL_TLS_CLIENT_CERT_PATH"},
		{"a key file that holds no key", func(e TemporalEnv) { e["TEMPORAL_TLS_CLIENT_KEY_PATH"] = f.clientCert },
			"TEMPORAL_TLS_CLIENT_KEY_PATH: " + f.clientCert + ": no PEM private key found"},
		{"a CA file that is not PEM", func(e TemporalEnv) { e["TEMPORAL_TLS_SERVER_CA_CERT_PATH"] = garbage },
			"TEMPORAL_TLS_SERVER_CA_CERT_PATH: " + garbage + ": no PEM certificate found"},
		{"inline key material that is not PEM", func(e TemporalEnv) {
			delete(e, "TEMPORAL_TLS_CLIENT_CERT_PATH")
			delete(e, "TEMPORAL_TLS_CLIENT_KEY_PATH")
			e["TEMPORAL_TLS_CLIENT_CERT_DATA"], e["TEMPORAL_TLS_CLIENT_KEY_DATA"] = "garbage", string(keyPEM)
		}, "TEMPORAL_TLS_CLIENT_CERT_DATA: no PEM certificate found"},
		{"a certificate without its key", func(e TemporalEnv) { delete(e, "TEMPORAL_TLS_CLIENT_KEY_PATH") },
			"TEMPORAL_TLS_CLIENT_CERT_PATH is set but not TEMPORAL_TLS_CLIENT_KEY_PATH"},
		{"a file and inline data for one setting", func(e TemporalEnv) { e["TEMPORAL_TLS_CLIENT_KEY_DATA"] = string(keyPEM) },
			"TEMPORAL_TLS_CLIENT_KEY_PATH and TEMPORAL_TLS_CLIENT_KEY_DATA are both set"},
		{"a bad certificate from a profile", func(e TemporalEnv) {
			delete(e, "TEMPORAL_TLS_CLIENT_CERT_PATH")
			delete(e, "TEMPORAL_TLS_CLIENT_KEY_PATH")
			e["TEMPORAL_CONFIG_FILE"], e["TEMPORAL_PROFILE"] = profiles, "prod"
		}, `profile "prod" tls.client_cert_path in ` + profiles + ": " + garbage + ": no PEM certificate found"},
		{"an API key that cannot be a header", func(e TemporalEnv) { e["TEMPORAL_API_KEY"] = testAPIKey + "\n" },
			"TEMPORAL_API_KEY: holds a space, a line break or a non-printable character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := f.env(addr)
			tt.change(env)
			logs := &testsupport.SyncBuffer{}
			start := time.Now()
			c, err := DialTemporalWith(context.Background(), TemporalConfig{Env: env}, slog.New(slog.NewJSONHandler(logs, nil)), time.Minute, nil)
			if c != nil {
				c.Close()
			}
			require.Error(t, err)
			t.Log(err)
			assert.Less(t, time.Since(start), 5*time.Second, "no retry")
			assert.Contains(t, err.Error(), tt.err)
			for _, secret := range []string{testAPIKey, keyLine} {
				assert.NotContains(t, err.Error(), secret)
				assert.NotContains(t, logs.String(), secret)
			}
		})
	}
}

// frontend is an in-process Temporal frontend on 127.0.0.1: GetSystemInfo answers, and every
// call's metadata and client certificate are recorded. refuse, when set, answers every call
// with its error instead.
type frontend struct {
	workflowservice.UnimplementedWorkflowServiceServer
	addr string

	mu       sync.Mutex
	metadata []metadata.MD
	certs    []*x509.Certificate
	refuse   error
	describe error
}

func startFrontend(t *testing.T, config *tls.Config) *frontend {
	t.Helper()
	f := &frontend{}
	opts := []grpc.ServerOption{grpc.UnaryInterceptor(f.intercept)}
	if config != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(config)))
	}
	srv := grpc.NewServer(opts...)
	workflowservice.RegisterWorkflowServiceServer(srv, f)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	f.addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(srv.Stop)
	return f
}

func (f *frontend) intercept(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.metadata = append(f.metadata, md)
	if p, ok := peer.FromContext(ctx); ok {
		if info, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(info.State.PeerCertificates) > 0 {
			f.certs = append(f.certs, info.State.PeerCertificates[0])
		}
	}
	refuse := f.refuse
	f.mu.Unlock()
	if refuse != nil {
		return nil, refuse
	}
	return handler(ctx, req)
}

func (f *frontend) GetSystemInfo(context.Context, *workflowservice.GetSystemInfoRequest) (*workflowservice.GetSystemInfoResponse, error) {
	return &workflowservice.GetSystemInfoResponse{}, nil
}

func (f *frontend) DescribeNamespace(_ context.Context, req *workflowservice.DescribeNamespaceRequest) (*workflowservice.DescribeNamespaceResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.describe != nil {
		// As Temporal's server does: a service error goes over gRPC as its status.
		return nil, serviceerror.ToStatus(f.describe).Err()
	}
	return &workflowservice.DescribeNamespaceResponse{}, nil
}

// set changes the frontend's answers under its lock.
func (f *frontend) set(change func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	change()
}

func (f *frontend) recorded() ([]metadata.MD, []*x509.Certificate) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]metadata.MD(nil), f.metadata...), append([]*x509.Certificate(nil), f.certs...)
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

// dialFrontend dials with a minute's wait, and returns how long it took, the logs and the error.
func dialFrontend(t *testing.T, cfg TemporalConfig) (time.Duration, string, error) {
	t.Helper()
	logs := &testsupport.SyncBuffer{}
	start := time.Now()
	c, err := DialTemporalWith(context.Background(), cfg, slog.New(slog.NewJSONHandler(logs, nil)), time.Minute, nil)
	if c != nil {
		c.Close()
	}
	return time.Since(start), logs.String(), err
}

// TestAPIKeyReachesTheServerAsMetadata: envconfig turns TLS on with an API key unless
// TEMPORAL_TLS=false; then the key goes in plain text, with a warning.
func TestAPIKeyReachesTheServerAsMetadata(t *testing.T) {
	fe := startFrontend(t, nil)
	_, logs, err := dialFrontend(t, TemporalConfig{Env: TemporalEnv{
		"TEMPORAL_ADDRESS": fe.addr, "TEMPORAL_API_KEY": testAPIKey, "TEMPORAL_TLS": "false",
	}})
	require.NoError(t, err)
	mds, _ := fe.recorded()
	require.NotEmpty(t, mds)
	for _, md := range mds {
		assert.Equal(t, []string{"Bearer " + testAPIKey}, md.Get("authorization"))
	}
	assert.Contains(t, logs, "TEMPORAL_API_KEY is set but TLS is off (TEMPORAL_TLS): the API key crosses the network in clear text")
	assert.NotContains(t, logs, testAPIKey)

	t.Run("without TEMPORAL_TLS=false the key turns TLS on, and a plain-text server is an error at once", func(t *testing.T) {
		took, logs, err := dialFrontend(t, TemporalConfig{Env: TemporalEnv{"TEMPORAL_ADDRESS": fe.addr, "TEMPORAL_API_KEY": testAPIKey}})
		require.Error(t, err)
		assert.Less(t, took, 10*time.Second)
		assert.Contains(t, err.Error(), "TEMPORAL_TLS: Temporal at "+fe.addr+" does not speak TLS, and the client uses TLS because of TEMPORAL_API_KEY")
		assert.NotContains(t, err.Error()+logs, testAPIKey)
	})
}

func TestRefusalsStopTheDialAtOnceNamingTheSetting(t *testing.T) {
	t.Run("Unauthenticated names TEMPORAL_API_KEY and does not echo the key", func(t *testing.T) {
		fe := startFrontend(t, nil)
		fe.set(func() { fe.refuse = status.Error(codes.Unauthenticated, "invalid API key "+testAPIKey) })
		took, logs, err := dialFrontend(t, TemporalConfig{Env: TemporalEnv{
			"TEMPORAL_ADDRESS": fe.addr, "TEMPORAL_API_KEY": testAPIKey, "TEMPORAL_TLS": "false",
		}})
		require.Error(t, err)
		assert.Less(t, took, 10*time.Second)
		assert.True(t, strings.HasPrefix(err.Error(), "TEMPORAL_API_KEY: Temporal at "+fe.addr+" refused the credentials"), err.Error())
		assert.Contains(t, err.Error(), "invalid API key [redacted]")
		assert.NotContains(t, err.Error()+logs, testAPIKey)
		assert.Equal(t, codes.Unauthenticated, serviceerror.ToStatus(err).Code(), "the SDK's error is wrapped")
	})
	t.Run("PermissionDenied names TEMPORAL_API_KEY", func(t *testing.T) {
		fe := startFrontend(t, nil)
		fe.set(func() { fe.describe = serviceerror.NewPermissionDenied("no access", "") })
		_, _, err := dialFrontend(t, TemporalConfig{Namespace: "team", Env: TemporalEnv{
			"TEMPORAL_ADDRESS": fe.addr, "TEMPORAL_API_KEY": testAPIKey, "TEMPORAL_TLS": "false",
		}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), `TEMPORAL_API_KEY: the credentials may not use namespace "team"`)
	})
	t.Run("a namespace that does not exist names TEMPORAL_NAMESPACE", func(t *testing.T) {
		fe := startFrontend(t, nil)
		fe.set(func() { fe.describe = serviceerror.NewNamespaceNotFound("nope") })
		took, _, err := dialFrontend(t, TemporalConfig{Env: TemporalEnv{"TEMPORAL_ADDRESS": fe.addr, "TEMPORAL_NAMESPACE": "nope"}})
		require.Error(t, err)
		assert.Less(t, took, 10*time.Second)
		assert.Contains(t, err.Error(), `TEMPORAL_NAMESPACE: namespace "nope" does not exist at `+fe.addr)
	})
	t.Run("an unreachable frontend is retried for the whole wait", func(t *testing.T) {
		addr := closedAddr(t)
		logs := &testsupport.SyncBuffer{}
		start := time.Now()
		_, err := DialTemporalWith(context.Background(), TemporalConfig{Env: TemporalEnv{"TEMPORAL_ADDRESS": addr}},
			slog.New(slog.NewJSONHandler(logs, nil)), 1500*time.Millisecond, nil)
		require.Error(t, err)
		assert.GreaterOrEqual(t, time.Since(start), 1500*time.Millisecond)
		assert.Contains(t, err.Error(), "connect to Temporal at "+addr+" (namespace default)")
		assert.Contains(t, logs.String(), "Temporal is not reachable yet, retrying")
	})
}

func TestTLSRefusalsStopTheDialAtOnceNamingTheSetting(t *testing.T) {
	f := newTLSFixture(t)
	fe := startFrontend(t, f.serverConfig())
	otherCA := f.p.CA("other-ca")
	_, strangerCert, strangerKey := f.p.Leaf(otherCA, "stranger", testsupport.LeafOptions{Usage: x509.ExtKeyUsageClientAuth})

	_, _, err := dialFrontend(t, TemporalConfig{Env: f.env(fe.addr)})
	require.NoError(t, err, "the fixture's client is accepted")

	tests := []struct {
		name   string
		change func(TemporalEnv)
		err    string
	}{
		{"a server certificate of a CA not trusted", func(e TemporalEnv) { e["TEMPORAL_TLS_SERVER_CA_CERT_PATH"] = otherCA.File },
			"TEMPORAL_TLS_SERVER_CA_CERT_PATH: the certificate of Temporal at " + fe.addr + " is not signed by this CA (check TEMPORAL_TLS_SERVER_NAME too)"},
		{"a server certificate not for the server name", func(e TemporalEnv) { e["TEMPORAL_TLS_SERVER_NAME"] = "temporal.example" },
			"TEMPORAL_TLS_SERVER_NAME: the certificate of Temporal at " + fe.addr + " is not for \"temporal.example\""},
		{"no client certificate", func(e TemporalEnv) {
			delete(e, "TEMPORAL_TLS_CLIENT_CERT_PATH")
			delete(e, "TEMPORAL_TLS_CLIENT_KEY_PATH")
		}, "TEMPORAL_TLS_CLIENT_CERT_PATH: Temporal at " + fe.addr + " refused the connection without a client certificate"},
		{"a client certificate the server does not trust", func(e TemporalEnv) {
			e["TEMPORAL_TLS_CLIENT_CERT_PATH"], e["TEMPORAL_TLS_CLIENT_KEY_PATH"] = strangerCert, strangerKey
		}, "TEMPORAL_TLS_CLIENT_CERT_PATH: Temporal at " + fe.addr + " refused the client certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := f.env(fe.addr)
			tt.change(env)
			took, _, err := dialFrontend(t, TemporalConfig{Env: env})
			require.Error(t, err)
			t.Log(err)
			assert.Less(t, took, 10*time.Second, "no retry")
			assert.Contains(t, err.Error(), tt.err)
		})
	}
}

// TestARotatedClientCertificateIsPresentedAtTheNextHandshake: cert-manager rewrites the files;
// the next handshake presents the new certificate, without a new client.
func TestARotatedClientCertificateIsPresentedAtTheNextHandshake(t *testing.T) {
	f := newTLSFixture(t)
	_, renewedCert, renewedKey := f.p.Leaf(f.clientCA, "worker-renewed", testsupport.LeafOptions{Usage: x509.ExtKeyUsageClientAuth})
	ln, err := tls.Listen("tcp", "127.0.0.1:0", f.serverConfig())
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	presented := make(chan string, 8)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			tc := conn.(*tls.Conn)
			if tc.Handshake() == nil {
				presented <- tc.ConnectionState().PeerCertificates[0].Subject.CommonName
			} else {
				presented <- "refused"
			}
			conn.Close()
		}
	}()

	logs := &testsupport.SyncBuffer{}
	opts, err := TemporalConfig{Env: f.env(ln.Addr().String())}.ClientOptions(slog.New(slog.NewJSONHandler(logs, nil)))
	require.NoError(t, err)
	config := opts.ConnectionOptions.TLS
	require.NotNil(t, config.GetClientCertificate)
	assert.Empty(t, config.Certificates, "the certificate comes from the files of the moment")
	handshake := func() string {
		t.Helper()
		c := config.Clone()
		c.ServerName = "127.0.0.1"
		conn, err := tls.Dial("tcp", ln.Addr().String(), c)
		require.NoError(t, err)
		// TLS 1.3: the server's verdict on the client certificate comes after the client's
		// handshake; wait for it.
		got := <-presented
		conn.Close()
		return got
	}

	assert.Equal(t, "worker", handshake())
	copyFile(t, f.p, renewedCert, f.clientCert)
	copyFile(t, f.p, renewedKey, f.keyFile)
	assert.Equal(t, "worker-renewed", handshake())
	assert.Contains(t, logs.String(), "Temporal client certificate reloaded")

	// A half-written pair keeps the last good certificate, logged once.
	f.p.Write(f.clientCert, []byte("-----BEGIN CERTIFICATE-----\ntruncated"))
	assert.Equal(t, "worker-renewed", handshake())
	assert.Equal(t, "worker-renewed", handshake())
	assert.Equal(t, 1, strings.Count(logs.String(), "do not load"), logs.String())
	assert.Contains(t, logs.String(), "TEMPORAL_TLS_CLIENT_CERT_PATH: "+f.clientCert+": no PEM certificate found")
}

// A variable set to the empty string is unset, as compose's ${VAR:-} and charts render unset
// settings: it neither turns TLS on nor overrides the profile.
func TestEmptyTemporalVariablesAreUnset(t *testing.T) {
	opts, err := TemporalConfig{Env: TemporalEnv{
		"TEMPORAL_TLS_SERVER_NAME": "", "TEMPORAL_API_KEY": "", "TEMPORAL_TLS_CLIENT_CERT_PATH": "", "TEMPORAL_ADDRESS": "",
	}}.ClientOptions(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.Equal(t, "localhost:7233", opts.HostPort)
	assert.Nil(t, opts.ConnectionOptions.TLS)
	assert.Nil(t, opts.Credentials)
}
