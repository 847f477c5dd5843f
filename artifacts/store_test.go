package artifacts_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/sethvargo/go-envconfig"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
)

// lastRequest remembers what reached the server, for tests of how the client is configured.
type lastRequest struct {
	mu  sync.Mutex
	req *http.Request
}

func (l *lastRequest) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.req = r.Clone(context.Background())
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (l *lastRequest) get(t *testing.T) *http.Request {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	require.NotNil(t, l.req, "no request reached the server")
	return l.req
}

// signingScope is the "<date>/<region>/s3/aws4_request" part of a SigV4 Authorization header,
// with the date dropped: "<access key>/<region>".
func signingScope(t *testing.T, r *http.Request) string {
	t.Helper()
	auth := r.Header.Get("Authorization")
	_, cred, ok := strings.Cut(auth, "Credential=")
	require.True(t, ok, "a SigV4 Authorization header: %q", auth)
	parts := strings.Split(strings.Split(cred, ",")[0], "/")
	require.Len(t, parts, 5, "credential scope %q", cred)
	return parts[0] + "/" + parts[2]
}

func TestNewUsesTheStandardAWSConfiguration(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string // set after the test's AWS environment was emptied
		opts      func(f *fakeS3) []artifacts.Option
		wantScope string
		wantToken string
	}{
		{
			name:      "with no region configured requests are signed for us-east-1",
			opts:      func(f *fakeS3) []artifacts.Option { return withFake(f) },
			wantScope: testAccessKeyID + "/us-east-1",
		},
		{
			name:      "AWS_REGION chooses the signing region",
			env:       map[string]string{"AWS_REGION": "eu-central-1"},
			opts:      func(f *fakeS3) []artifacts.Option { return withFake(f) },
			wantScope: testAccessKeyID + "/eu-central-1",
		},
		{
			name: "the AWS_* keys and AWS_ENDPOINT_URL_S3 configure the client without any option",
			env: map[string]string{
				"AWS_ACCESS_KEY_ID": "AKIDFROMENVIRONMENT", "AWS_SECRET_ACCESS_KEY": "secret-from-environment",
				"AWS_SESSION_TOKEN": "session-token-from-environment", "AWS_REGION": "eu-west-3",
				"AWS_ENDPOINT_URL_S3": "<fake>",
			},
			wantScope: "AKIDFROMENVIRONMENT/eu-west-3",
			wantToken: "session-token-from-environment",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			seen := &lastRequest{}
			fake := newFakeS3(t, seen.middleware)
			l := fake.put(t, "jobs/main.py", []byte("print(1)"))
			isolateAWSEnv(t)
			for k, v := range tt.env {
				t.Setenv(k, strings.ReplaceAll(v, "<fake>", fake.server.URL))
			}
			var opts []artifacts.Option
			if tt.opts != nil {
				opts = tt.opts(fake)
			}
			store, err := artifacts.New(t.Context(), artifacts.Config{UsePathStyle: true}, opts...)
			require.NoError(t, err)

			_, err = store.Stat(t.Context(), l)
			require.NoError(t, err)
			r := seen.get(t)
			assert.Equal(t, tt.wantScope, signingScope(t, r))
			assert.Equal(t, tt.wantToken, r.Header.Get("X-Amz-Security-Token"))
		})
	}
}

func withFake(f *fakeS3) []artifacts.Option {
	return []artifacts.Option{
		artifacts.WithEndpoint(f.server.URL),
		artifacts.WithStaticCredentials(testAccessKeyID, testSecretKey, ""),
	}
}

func TestPathStyleFromTheEnvironment(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantHost string
		wantPath string
	}{
		{name: "S3_USE_PATH_STYLE=true puts the bucket in the path", env: map[string]string{"S3_USE_PATH_STYLE": "true"}, wantHost: "s3.test", wantPath: "/artifacts/jobs/main.py"},
		{name: "by default the bucket is a virtual host, as AWS prefers", env: map[string]string{}, wantHost: "artifacts.s3.test", wantPath: "/jobs/main.py"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg artifacts.Config
			require.NoError(t, envconfig.ProcessWith(t.Context(), &envconfig.Config{
				Target: &cfg, Lookuper: envconfig.MapLookuper(tt.env),
			}))

			seen := &lastRequest{}
			fake := newFakeS3(t, seen.middleware)
			// Every host name resolves to the fake server, so that virtual-host addressing
			// can be observed without DNS.
			addr := fake.server.Listener.Addr().String()
			client := &http.Client{Transport: &http.Transport{
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				},
			}}
			_, port, _ := net.SplitHostPort(addr)
			isolateAWSEnv(t)
			store, err := artifacts.New(t.Context(), cfg,
				artifacts.WithEndpoint("http://s3.test:"+port),
				artifacts.WithStaticCredentials(testAccessKeyID, testSecretKey, ""),
				artifacts.WithHTTPClient(client),
				artifacts.WithRetryMaxAttempts(1),
			)
			require.NoError(t, err)

			_, _ = store.Stat(t.Context(), loc("jobs/main.py")) // only the request matters here
			r := seen.get(t)
			host, _, _ := net.SplitHostPort(r.Host)
			assert.Equal(t, tt.wantHost, host)
			assert.Equal(t, tt.wantPath, r.URL.Path)
		})
	}
}

func TestChecksumSettingsComeFromTheEnvironment(t *testing.T) {
	// An object whose declared SHA-256 is not that of its bytes, as a corrupted store would
	// serve it: validation is what notices.
	const wrong = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	tests := []struct {
		name       string
		checksum   string // the SHA-256 the store declares
		validation string // AWS_RESPONSE_CHECKSUM_VALIDATION
		wantErr    bool
	}{
		{name: "by default a GetObject body is checked against the store's checksum", checksum: wrong, wantErr: true},
		{name: "AWS_RESPONSE_CHECKSUM_VALIDATION=when_required turns the check off for stores that need it", checksum: wrong, validation: "when_required"},
		{name: "an object uploaded in parts, whose composite checksum cannot be checked, reads", checksum: wrong[:43] + "-3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFakeS3(t)
			fake.putStream(t, "app.py", strings.NewReader("print(1)\n"), 9, tt.checksum)
			isolateAWSEnv(t)
			t.Setenv("AWS_RESPONSE_CHECKSUM_VALIDATION", tt.validation)
			store, err := artifacts.New(t.Context(), artifacts.Config{UsePathStyle: true}, withFake(fake)...)
			require.NoError(t, err)

			body, _, err := store.Open(t.Context(), loc("app.py"))
			require.NoError(t, err)
			defer body.Close()
			_, err = io.ReadAll(body)
			if tt.wantErr {
				require.ErrorContains(t, err, "checksum did not match")
			} else {
				require.NoError(t, err)
			}
		})
	}
}
