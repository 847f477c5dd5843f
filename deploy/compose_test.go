package deploy

import (
	"context"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
)

// loadCompose loads docker-compose.yml as `docker compose --env-file envFile config` does:
// the env file sets the interpolated values and, through COMPOSE_PROFILES, the profiles. The
// process environment is left out so that the test sees the same project on every machine.
func loadCompose(t *testing.T, envFile string) *types.Project {
	t.Helper()
	return loadComposeFiles(t, []string{"../docker-compose.yml"}, envFile)
}

// loadComposeFiles is loadCompose of several compose files (`docker compose -f … -f …`), the
// later ones overriding the earlier.
func loadComposeFiles(t *testing.T, files []string, envFile string) *types.Project {
	t.Helper()
	p, err := tryLoadComposeFiles(files, envFile)
	if err != nil {
		t.Fatalf("load %v with %s: %v", files, envFile, err)
	}
	return p
}

// tryLoadComposeFiles is loadComposeFiles returning the error of a file that does not load.
func tryLoadComposeFiles(files []string, envFile string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions(files,
		cli.WithWorkingDirectory(".."),
		cli.WithName("cde-spark-provisioner"),
		cli.WithEnvFiles(envFile),
		cli.WithDotEnv,
		cli.WithDefaultProfiles(),
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(context.Background())
}

// exampleWith is .env.example with the variables of set replaced (a value of "-" removes the
// variable's line), written to a temporary env file.
func exampleWith(t *testing.T, set map[string]string) string {
	t.Helper()
	text, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	seen := map[string]bool{}
	for line := range strings.Lines(string(text)) {
		name, _, ok := strings.Cut(strings.TrimSpace(line), "=")
		if v, replaced := set[name]; ok && replaced && !strings.HasPrefix(name, "#") {
			seen[name] = true
			if v != "-" {
				out = append(out, name+"="+v+"\n")
			}
			continue
		}
		out = append(out, line)
	}
	for name, v := range set {
		if !seen[name] && v != "-" {
			out = append(out, name+"="+v+"\n")
		}
	}
	// Not under t.TempDir(): a test name may hold characters an env file path should not.
	dir, err := os.MkdirTemp("", "csp-env")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, ".env")
	if err := os.WriteFile(path, []byte(strings.Join(out, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// readmeVars are the environment variables of the README's configuration table, by process
// ("api", "worker"; "both" counts for each).
func readmeVars(t *testing.T) map[string][]string {
	vars, _ := readmeTable(t)
	return vars
}

// readmeTable is readmeVars and the default column of each variable.
func readmeTable(t *testing.T) (vars map[string][]string, defaults map[string]string) {
	t.Helper()
	text, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(text), "## Configuration")
	if !ok {
		t.Fatal("README has no Configuration section")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	vars, defaults = map[string][]string{}, map[string]string{}
	row := regexp.MustCompile("^\\| (`[A-Z0-9_]+`(?:, `[A-Z0-9_]+`)*) \\| (api|worker|both) \\| ([^|]*) \\|")
	for line := range strings.Lines(table) {
		m := row.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		for name := range strings.SplitSeq(m[1], ", ") {
			name = strings.Trim(name, "`")
			defaults[name] = strings.TrimSpace(m[3])
			for _, proc := range []string{"api", "worker"} {
				if m[2] == proc || m[2] == "both" {
					vars[proc] = append(vars[proc], name)
				}
			}
		}
	}
	if len(vars["api"]) < 5 || len(vars["worker"]) < 10 {
		t.Fatalf("README configuration table: read %v, too few rows (did its format change?)", vars)
	}
	return vars, defaults
}

func env(svc types.ServiceConfig, name string) (string, bool) {
	v, ok := svc.Environment[name]
	if !ok || v == nil {
		return "", false
	}
	return *v, true
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	svc, err := p.GetService(name)
	if err != nil {
		t.Fatalf("service %s: %v", name, err)
	}
	return svc
}

// healthURL is the URL the service's health check probes (the healthcheck binary's first
// http argument).
func healthURL(svc types.ServiceConfig) *url.URL {
	if svc.HealthCheck == nil {
		return nil
	}
	for _, arg := range svc.HealthCheck.Test {
		if strings.HasPrefix(arg, "http://") {
			u, err := url.Parse(arg)
			if err == nil {
				return u
			}
		}
	}
	return nil
}

func TestComposeServicesPerProfile(t *testing.T) {
	core := []string{"postgresql", "temporal-schema", "temporal", "temporal-namespace", "temporal-ui", "api", "worker"}
	tests := []struct {
		name     string
		envFile  string
		enabled  []string
		disabled []string
	}{
		{"the default stack is Temporal on PostgreSQL, its UI, the api and the worker", "../.env.example", core, []string{"cdesim", "s3local"}},
		{"the demo env file turns on the simulator and the local S3", "compose/demo.env", append(slices.Clone(core), "cdesim", "s3local"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := loadCompose(t, tt.envFile)
			got := p.ServiceNames()
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tt.enabled))
			if !slices.Equal(got, want) {
				t.Errorf("services %v, want %v", got, want)
			}
			for _, name := range tt.disabled {
				if _, ok := p.DisabledServices[name]; !ok {
					t.Errorf("service %s is neither enabled nor disabled by a profile", name)
				}
			}
		})
	}
}

func TestComposeStartOrderAndHealthChecks(t *testing.T) {
	p := loadCompose(t, "compose/demo.env")
	deps := []struct {
		name, service, on, condition string
	}{
		{"the schema job waits for PostgreSQL to accept connections", "temporal-schema", "postgresql", types.ServiceConditionHealthy},
		{"the server starts on a set-up schema", "temporal", "temporal-schema", types.ServiceConditionCompletedSuccessfully},
		{"the namespace is created once the server is healthy", "temporal-namespace", "temporal", types.ServiceConditionHealthy},
		{"the UI waits for the server", "temporal-ui", "temporal", types.ServiceConditionHealthy},
		{"the api waits for the server", "api", "temporal", types.ServiceConditionHealthy},
		{"the api waits for the namespace (it registers search attributes in it)", "api", "temporal-namespace", types.ServiceConditionCompletedSuccessfully},
		{"the worker waits for the server", "worker", "temporal", types.ServiceConditionHealthy},
		{"the worker waits for the namespace", "worker", "temporal-namespace", types.ServiceConditionCompletedSuccessfully},
		{"the simulator joins the started worker's network", "cdesim", "worker", types.ServiceConditionStarted},
		{"the local S3 joins the started worker's network", "s3local", "worker", types.ServiceConditionStarted},
	}
	for _, d := range deps {
		t.Run(d.name, func(t *testing.T) {
			dep, ok := service(t, p, d.service).DependsOn[d.on]
			if !ok || dep.Condition != d.condition || !dep.Required {
				t.Errorf("%s depends_on %s = %+v (present %t), want required with condition %s", d.service, d.on, dep, ok, d.condition)
			}
		})
	}

	t.Run("every service waited on for health has a health check", func(t *testing.T) {
		for _, svc := range p.Services {
			for on, dep := range svc.DependsOn {
				if dep.Condition != types.ServiceConditionHealthy {
					continue
				}
				if hc := service(t, p, on).HealthCheck; hc == nil || hc.Disable || len(hc.Test) == 0 {
					t.Errorf("%s waits for %s to be healthy, which has no health check", svc.Name, on)
				}
			}
		}
	})

	checks := []struct {
		name, service string
		want          []string // arguments the check's command must contain
	}{
		{"PostgreSQL is healthy when it accepts connections", "postgresql", []string{"pg_isready"}},
		{"Temporal is healthy when its frontend port accepts connections", "temporal", []string{"7233"}},
		{"the api is healthy when GET /health answers 2xx (Temporal reachable)", "api", []string{"/usr/local/bin/healthcheck", "http://127.0.0.1:8093/health"}},
		{"the worker is healthy when /readyz answers 2xx (polling, Temporal reachable)", "worker", []string{"/usr/local/bin/healthcheck", "http://127.0.0.1:9090/readyz"}},
		{"the simulator is healthy once it listens and its CA is written", "cdesim", []string{"tcp://127.0.0.1:8443", "file:///ca/cdesim-ca.pem"}},
		{"the local S3 is healthy once the last sample is seeded", "s3local", []string{"/usr/local/bin/healthcheck"}},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			hc := service(t, p, c.service).HealthCheck
			if hc == nil || hc.Interval == nil || hc.Retries == nil {
				t.Fatalf("%s: health check %+v, want a test with an interval and retries", c.service, hc)
			}
			joined := strings.Join(hc.Test, " ")
			for _, w := range c.want {
				if !strings.Contains(joined, w) {
					t.Errorf("%s: health check %q does not contain %q", c.service, joined, w)
				}
			}
		})
	}
}

func TestComposeProvisionerServices(t *testing.T) {
	p := loadCompose(t, "../.env.example")
	df := parseDockerfile(t, "../Dockerfile")
	vars := readmeVars(t)
	// Variables the compose file sets on purpose to something else than a pass-through.
	fixed := map[string]string{
		"HTTP_ADDR":        ":8093",         // inside the container; API_PUBLISH chooses the host side
		"TEMPORAL_ADDRESS": "temporal:7233", // the stack's own server
		"HEALTH_ADDR":      ":9090",         // the health check and nothing else uses it
	}
	// README variables deliberately absent, with the reason.
	absent := map[string]map[string]string{
		"api":    {"SSL_CERT_FILE": "the api makes no TLS call here: its Temporal connection is the stack's plaintext one"},
		"worker": {},
	}
	for _, v := range temporalConnectionVars {
		for _, proc := range []string{"api", "worker"} {
			absent[proc][v] = "the stack's own Temporal is plaintext: deploy/compose/secured-temporal.yml passes it (TestComposeSecuredTemporal)"
		}
	}

	for _, name := range []string{"api", "worker"} {
		t.Run(name, func(t *testing.T) {
			svc := service(t, p, name)
			t.Run("is built from its Dockerfile target", func(t *testing.T) {
				if svc.Build == nil || svc.Build.Target != name || df.stage(name) == nil {
					t.Errorf("build %+v: want target %s of the Dockerfile", svc.Build, name)
				}
				for _, arg := range []string{"VERSION", "COMMIT", "DATE"} {
					if _, ok := svc.Build.Args[arg]; !ok {
						t.Errorf("build argument %s is not passed: --version would not say what runs", arg)
					}
				}
			})
			t.Run("sets every README variable of its process", func(t *testing.T) {
				for _, v := range vars[name] {
					if reason, ok := absent[name][v]; ok {
						if _, set := env(svc, v); set {
							t.Errorf("%s is set although %s", v, reason)
						}
						continue
					}
					got, ok := env(svc, v)
					if !ok {
						t.Errorf("%s (README configuration table) is not in the %s environment of docker-compose.yml: add it there and to .env.example", v, name)
					}
					if want, ok := fixed[v]; ok && got != want {
						t.Errorf("%s = %q, want %q", v, got, want)
					}
				}
			})
			t.Run("runs hardened: non-root, read-only, no capabilities", func(t *testing.T) {
				if svc.User != "65532:65532" || !svc.ReadOnly || !slices.Equal(svc.CapDrop, []string{"ALL"}) || !slices.Contains(svc.SecurityOpt, "no-new-privileges:true") {
					t.Errorf("user %q read_only %t cap_drop %v security_opt %v", svc.User, svc.ReadOnly, svc.CapDrop, svc.SecurityOpt)
				}
			})
			t.Run("its health check probes the port it listens on", func(t *testing.T) {
				addr := map[string]string{"api": "HTTP_ADDR", "worker": "HEALTH_ADDR"}[name]
				listen, _ := env(svc, addr)
				u := healthURL(svc)
				if u == nil || ":"+u.Port() != listen {
					t.Errorf("health check %v vs %s=%q", u, addr, listen)
				}
			})
		})
	}

	t.Run("the example turns the bearer token on, its file mounted read-only from a git-ignored directory", func(t *testing.T) {
		api := service(t, p, "api")
		want := map[string]string{"AUTH_TOKEN_FILE": "/etc/cde-spark-provisioner/api/token",
			"TLS_CERT_FILE": "", "TLS_KEY_FILE": "", "TLS_CLIENT_CA_FILE": "", "TLS_CLIENT_ALLOWED_NAMES": ""}
		for v, w := range want {
			if got, _ := env(api, v); got != w {
				t.Errorf("%s = %q with .env.example, want %q", v, got, w)
			}
		}
		token, _ := env(api, "AUTH_TOKEN_FILE")
		mounted := false
		for _, v := range api.Volumes {
			mounted = mounted || (v.Target == "/etc/cde-spark-provisioner/api" && v.ReadOnly &&
				v.Source == filepath.Join(p.WorkingDir, "deploy", "compose", "api-secrets") && strings.HasPrefix(token, v.Target+"/"))
		}
		if !mounted {
			t.Errorf("api volumes %+v: want deploy/compose/api-secrets read-only at /etc/cde-spark-provisioner/api, holding AUTH_TOKEN_FILE", api.Volumes)
		}
		if hc := api.HealthCheck; hc == nil || !slices.Contains(hc.Test, "-insecure") {
			t.Error("the api health check must accept the API's own certificate once TLS is on (-insecure)")
		}
	})
	t.Run("the api is published on the loopback by default", func(t *testing.T) {
		ports := service(t, p, "api").Ports
		if len(ports) != 1 || ports[0].Target != 8093 || ports[0].Published != "8093" || ports[0].HostIP != "127.0.0.1" {
			t.Errorf("api ports %+v, want 127.0.0.1:8093:8093", ports)
		}
	})
	t.Run("the Temporal UI and frontend are published on the loopback", func(t *testing.T) {
		for svc, port := range map[string]uint32{"temporal-ui": 8080, "temporal": 7233} {
			ports := service(t, p, svc).Ports
			if len(ports) != 1 || ports[0].Target != port || ports[0].HostIP != "127.0.0.1" {
				t.Errorf("%s ports %+v, want 127.0.0.1:%d", svc, ports, port)
			}
		}
	})
	t.Run("the worker stops more slowly than its WorkerStopTimeout (30 s)", func(t *testing.T) {
		g := service(t, p, "worker").StopGracePeriod
		if g == nil || time.Duration(*g) <= 30*time.Second {
			t.Errorf("worker stop_grace_period %v, want more than 30s", g)
		}
	})
	t.Run("the api stops more slowly than SHUTDOWN_TIMEOUT", func(t *testing.T) {
		api := service(t, p, "api")
		s, _ := env(api, "SHUTDOWN_TIMEOUT")
		d, err := time.ParseDuration(s)
		if err != nil || api.StopGracePeriod == nil || time.Duration(*api.StopGracePeriod) <= d {
			t.Errorf("api stop_grace_period %v, SHUTDOWN_TIMEOUT %q", api.StopGracePeriod, s)
		}
	})
	t.Run("third-party images are pinned to a version", func(t *testing.T) {
		for _, svc := range p.Services {
			if svc.Build != nil {
				continue
			}
			_, tag, ok := strings.Cut(svc.Image, ":")
			if !ok || tag == "latest" || !regexp.MustCompile(`^\d+\.\d+`).MatchString(tag) {
				t.Errorf("%s: image %q is not pinned to a version", svc.Name, svc.Image)
			}
		}
	})
	t.Run("the server and the admin tools are the same Temporal release", func(t *testing.T) {
		_, server, _ := strings.Cut(service(t, p, "temporal").Image, ":")
		for _, job := range []string{"temporal-schema", "temporal-namespace"} {
			if img := service(t, p, job).Image; img != "temporalio/admin-tools:"+server {
				t.Errorf("%s: image %q, want temporalio/admin-tools:%s (schema versions must match the server)", job, img, server)
			}
		}
	})
}

// TestComposeSecretsComeFromTheEnvFile checks that no credential is written in
// docker-compose.yml or .env.example: each is an interpolation of the variable of the same
// name (from the git-ignored .env), empty in the example.
func TestComposeSecretsComeFromTheEnvFile(t *testing.T) {
	// The file as written, before interpolation (compose-go cannot load it uninterpolated:
	// "${API_PUBLISH…}:8093" is not a port until interpolated).
	var raw struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	text, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(text, &raw); err != nil {
		t.Fatal(err)
	}
	example := loadCompose(t, "../.env.example")
	secrets := []string{"CDP_ACCESS_KEY_ID", "CDP_PRIVATE_KEY", "CDP_DEPLOY_ROLE_USER", "CDP_DEPLOY_ROLE_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
	for _, name := range secrets {
		t.Run(name, func(t *testing.T) {
			if v := raw.Services["worker"].Environment[name]; v != "${"+name+":-}" {
				t.Errorf("docker-compose.yml sets %s to %q, want ${%s:-}", name, v, name)
			}
			if v, _ := env(service(t, example, "worker"), name); v != "" {
				t.Errorf(".env.example gives %s a value", name)
			}
		})
	}
	ignored, err := os.ReadFile("../.gitignore")
	if err != nil || !regexp.MustCompile(`(?m)^/?\.env$`).Match(ignored) {
		t.Error(".env is not git-ignored: filled-in credentials could be committed")
	}
}

// flagValue is the value following flag in a command.
func flagValue(cmd []string, flag string) string {
	if i := slices.Index(cmd, flag); i >= 0 && i+1 < len(cmd) {
		return cmd[i+1]
	}
	return ""
}

func TestComposeDemoWiring(t *testing.T) {
	p := loadCompose(t, "compose/demo.env")
	worker, sim, s3 := service(t, p, "worker"), service(t, p, "cdesim"), service(t, p, "s3local")

	var seed struct {
		APIKeys []struct {
			AccessKeyID string `yaml:"accessKeyId"`
			PrivateKey  string `yaml:"privateKey"`
		} `yaml:"apiKeys"`
		WorkloadUsers []struct{ Name, Password string } `yaml:"workloadUsers"`
	}
	raw, err := os.ReadFile("../examples/cdesim-seed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &seed); err != nil || len(seed.APIKeys) == 0 || len(seed.WorkloadUsers) == 0 {
		t.Fatalf("examples/cdesim-seed.yaml: %v", err)
	}
	mount := func(svc types.ServiceConfig, target string) *types.ServiceVolumeConfig {
		for i, v := range svc.Volumes {
			if v.Target == target {
				return &svc.Volumes[i]
			}
		}
		return nil
	}
	workerEnv := func(name string) string { v, _ := env(worker, name); return v }
	caOut := flagValue(sim.Command, "-ca-out")

	checks := []struct {
		name string
		ok   bool
	}{
		{"the simulator shares the worker's network (it binds loopback only)", sim.NetworkMode == "service:worker"},
		{"the local S3 shares the worker's network (it binds loopback only)", s3.NetworkMode == "service:worker"},
		{"the worker calls the simulator's control-plane port", workerEnv("CDP_ENDPOINT_URL") == "https://127.0.0.1:"+flagValue(sim.Command, "-port")},
		{"the worker trusts the CA the simulator writes", caOut != "" && workerEnv("SSL_CERT_FILE") == caOut},
		{"the CA reaches the worker through a shared volume", mount(sim, filepath.Dir(caOut)) != nil && mount(worker, filepath.Dir(caOut)) != nil &&
			mount(sim, filepath.Dir(caOut)).Source == mount(worker, filepath.Dir(caOut)).Source && mount(worker, filepath.Dir(caOut)).ReadOnly},
		{"the simulator gets the example seed", mount(sim, flagValue(sim.Command, "-seed")) != nil &&
			mount(sim, flagValue(sim.Command, "-seed")).Source == filepath.Join(p.WorkingDir, "examples", "cdesim-seed.yaml")},
		{"the worker's CDP key is the seed's", workerEnv("CDP_ACCESS_KEY_ID") == seed.APIKeys[0].AccessKeyID && workerEnv("CDP_PRIVATE_KEY") == seed.APIKeys[0].PrivateKey},
		{"the worker's workload user is the seed's", workerEnv("CDP_DEPLOY_ROLE_USER") == seed.WorkloadUsers[0].Name && workerEnv("CDP_DEPLOY_ROLE_PASSWORD") == seed.WorkloadUsers[0].Password},
		{"the worker reads artifacts from the local S3, path-style", workerEnv("AWS_ENDPOINT_URL_S3") == "http://"+flagValue(s3.Command, "-addr") && workerEnv("S3_USE_PATH_STYLE") == "true"},
		{"the AWS SDK has a region and credentials to sign with", workerEnv("AWS_REGION") != "" && workerEnv("AWS_ACCESS_KEY_ID") != "" && workerEnv("AWS_SECRET_ACCESS_KEY") != ""},
		{"the local S3 seeds from the examples", mount(s3, flagValue(s3.Command, "-examples")) != nil &&
			mount(s3, flagValue(s3.Command, "-examples")).Source == filepath.Join(p.WorkingDir, "examples")},
		{"the read-only local S3 has a writable /tmp for its objects", slices.Contains(s3.Tmpfs, "/tmp")},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if !c.ok {
				t.Errorf("want: %s (worker env %v; cdesim %v; s3local %v)", c.name, worker.Environment, sim.Command, s3.Command)
			}
		})
	}

	t.Run("the local S3's health check reads an object the examples name", func(t *testing.T) {
		u := healthURL(s3)
		if u == nil {
			t.Fatal("no http health check")
		}
		loc := "s3://" + strings.TrimPrefix(u.Path, "/")
		examples, _ := filepath.Glob("../examples/*.yaml")
		for _, f := range examples {
			if b, _ := os.ReadFile(f); strings.Contains(string(b), loc) {
				return
			}
		}
		t.Errorf("%s is named by no example descriptor: the health check would never pass", loc)
	})
}

// TestDockerComposeConfig runs `docker-compose config` where it is installed (Debian's
// docker-compose package; it needs no engine), so the file stays readable by that parser too.
// Elsewhere compose-go above is the check.
func TestDockerComposeConfig(t *testing.T) {
	bin, err := exec.LookPath("docker-compose")
	if err != nil {
		t.Skip("docker-compose is not installed")
	}
	for _, envFile := range []string{".env.example", "deploy/compose/demo.env"} {
		t.Run(envFile, func(t *testing.T) {
			cmd := exec.Command(bin, "--env-file", envFile, "--profile", "demo", "config", "--quiet")
			cmd.Dir = ".."
			// The env file alone decides the values, as in loadCompose.
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("docker-compose --env-file %s config: %v\n%s", envFile, err, out)
			}
		})
	}
}

// TestComposeShellScriptsParse checks the syntax of the one-shot jobs' scripts (sh -n), as
// the admin-tools image's /bin/sh would read them after compose's interpolation ($$ → $).
func TestComposeShellScriptsParse(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	p := loadCompose(t, "../.env.example")
	for _, name := range []string{"temporal-schema", "temporal-namespace"} {
		t.Run(name, func(t *testing.T) {
			svc := service(t, p, name)
			if !slices.Equal(svc.Entrypoint, []string{"/bin/sh", "-c"}) || len(svc.Command) != 1 {
				t.Fatalf("entrypoint %q command %q: want /bin/sh -c and one script", svc.Entrypoint, svc.Command)
			}
			script := svc.Command[0]
			if strings.Contains(script, "$$") {
				t.Errorf("script still holds $$ after interpolation:\n%s", script)
			}
			if out, err := exec.Command(sh, "-n", "-c", script).CombinedOutput(); err != nil {
				t.Errorf("sh -n: %v\n%s\n%s", err, out, script)
			}
		})
	}
}

// TestComposeSecuredTemporal follows the documented way of pointing the compose stack at a
// secured Temporal: an example appended to .env, and deploy/compose/secured-temporal.yml over
// docker-compose.yml.
func TestComposeSecuredTemporal(t *testing.T) {
	const secretsDir, secretsMount = "deploy/compose/temporal-secrets", "/etc/cde-spark-provisioner/temporal"
	tests := []struct {
		name    string
		example string // an env file of deploy/ (or, when it starts with a newline, its text)
		want    map[string]string
	}{
		{
			name:    "mutual TLS with a client certificate, a private CA and a server name",
			example: "compose/temporal-mtls.env.example",
			want: map[string]string{
				"TEMPORAL_ADDRESS": "temporal.example.internal:7233", "TEMPORAL_NAMESPACE": "witboost", "TEMPORAL_TLS": "true",
				"TEMPORAL_TLS_CLIENT_CERT_PATH":    secretsMount + "/client.crt",
				"TEMPORAL_TLS_CLIENT_KEY_PATH":     secretsMount + "/client.key",
				"TEMPORAL_TLS_SERVER_CA_CERT_PATH": secretsMount + "/ca.crt",
				"TEMPORAL_TLS_SERVER_NAME":         "frontend.temporal.internal",
				"TEMPORAL_SEARCH_ATTRIBUTES":       "true",
			},
		},
		{
			name:    "Temporal Cloud with an API key, search attributes registered in Cloud",
			example: "compose/temporal-cloud.env.example",
			want: map[string]string{
				"TEMPORAL_ADDRESS": "us-east-1.aws.api.temporal.io:7233", "TEMPORAL_NAMESPACE": "witboost.a1b2c", "TEMPORAL_TLS": "true",
				"TEMPORAL_API_KEY":           "replace-with-the-api-key",
				"TEMPORAL_SEARCH_ATTRIBUTES": "false",
			},
		},
		{
			name:    "a profile file: address and namespace are the profile's unless .env sets them",
			example: "\nTEMPORAL_CONFIG_FILE=" + secretsMount + "/temporal.toml\nTEMPORAL_PROFILE=prod\n",
			want: map[string]string{
				// .env.example's namespace line still applies; no address is passed at all.
				"TEMPORAL_NAMESPACE": "default", "TEMPORAL_SEARCH_ATTRIBUTES": "true",
				"TEMPORAL_CONFIG_FILE": secretsMount + "/temporal.toml", "TEMPORAL_PROFILE": "prod",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, err := os.ReadFile("../.env.example")
			if err != nil {
				t.Fatal(err)
			}
			example := []byte(tt.example)
			if !strings.HasPrefix(tt.example, "\n") {
				if example, err = os.ReadFile(tt.example); err != nil {
					t.Fatal(err)
				}
				// An empty TEMPORAL_TLS_* variable is not "unset" to Temporal's loader (it turns
				// TLS on): an example must show none.
				if m := regexp.MustCompile(`(?m)^TEMPORAL_[A-Z_]*=\s*$`).Find(example); m != nil {
					t.Errorf("%s sets %s to an empty value", tt.example, strings.TrimSpace(string(m)))
				}
			}
			envFile := filepath.Join(t.TempDir(), ".env")
			if err := os.WriteFile(envFile, append(append(base, '\n'), example...), 0o600); err != nil {
				t.Fatal(err)
			}
			p := loadComposeFiles(t, []string{"../docker-compose.yml", "compose/secured-temporal.yml"}, envFile)

			if got := p.ServiceNames(); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"api", "worker"}) {
				t.Errorf("services %v: want only the api and the worker (the stack's own Temporal is not started)", got)
			}
			for _, local := range []string{"postgresql", "temporal-schema", "temporal", "temporal-namespace", "temporal-ui"} {
				if _, ok := p.DisabledServices[local]; !ok {
					t.Errorf("%s is still part of the project", local)
				}
			}
			settings := map[string]map[string]string{}
			for _, name := range []string{"api", "worker"} {
				svc := service(t, p, name)
				if len(svc.DependsOn) != 0 {
					t.Errorf("%s depends on %v: nothing of the local stack runs", name, svc.DependsOn)
				}
				settings[name] = map[string]string{}
				for v, val := range svc.Environment {
					if strings.HasPrefix(v, "TEMPORAL_") && v != "TEMPORAL_TASK_QUEUE" && val != nil {
						settings[name][v] = *val
					}
				}
				if !maps.Equal(settings[name], tt.want) {
					t.Errorf("%s Temporal variables %v, want %v", name, settings[name], tt.want)
				}
				for v, val := range settings[name] {
					if !strings.HasSuffix(v, "_PATH") && v != "TEMPORAL_CONFIG_FILE" {
						continue
					}
					mounted := false
					for _, m := range svc.Volumes {
						mounted = mounted || (strings.HasPrefix(val, m.Target+"/") && m.ReadOnly && m.Source == filepath.Join(p.WorkingDir, secretsDir))
					}
					if !mounted {
						t.Errorf("%s %s=%s is not on the read-only mount of %s (%+v)", name, v, val, secretsDir, svc.Volumes)
					}
				}
			}
		})
	}

	t.Run("the files' directory is git-ignored but for its README", func(t *testing.T) {
		ignore, err := os.ReadFile("compose/temporal-secrets/.gitignore")
		lines := strings.Fields(string(ignore))
		if err != nil || !slices.Contains(lines, "*") || !slices.Contains(lines, "!README.md") {
			t.Errorf("deploy/compose/temporal-secrets/.gitignore %q (%v): want * and !README.md", ignore, err)
		}
		if _, err := os.Stat("compose/temporal-secrets/README.md"); err != nil {
			t.Error(err)
		}
	})
}

// TestComposeAccessControlGuard checks that compose refuses to start an api without access
// control unless AUTH_DISABLED says so: the guard is an interpolation compose evaluates when it
// loads the file (`docker compose up` and `config` alike), so compose-go sees it here.
func TestComposeAccessControlGuard(t *testing.T) {
	const secrets = "/etc/cde-spark-provisioner/api/"
	open := map[string]string{"AUTH_TOKEN_FILE": "", "TLS_CLIENT_CA_FILE": "", "AUTH_DISABLED": ""}
	with := func(extra map[string]string) map[string]string {
		m := maps.Clone(open)
		maps.Copy(m, extra)
		return m
	}
	refused := []struct {
		name  string
		set   map[string]string
		files []string
	}{
		{"no token, no client CA, AUTH_DISABLED empty", open, nil},
		{"no token, no client CA, AUTH_DISABLED absent", with(map[string]string{"AUTH_DISABLED": "-"}), nil},
		{"HTTPS without a client CA authenticates nobody", with(map[string]string{"TLS_CERT_FILE": secrets + "tls.crt", "TLS_KEY_FILE": secrets + "tls.key", "API_SCHEME": "https"}), nil},
		{"the secured-Temporal override keeps the guard", open, []string{"compose/secured-temporal.yml"}},
	}
	for _, tt := range refused {
		t.Run("refused: "+tt.name, func(t *testing.T) {
			_, err := tryLoadComposeFiles(append([]string{"../docker-compose.yml"}, tt.files...), exampleWith(t, tt.set))
			if err == nil {
				t.Fatal("compose loaded an api without access control")
			}
			for _, want := range []string{"AUTH_TOKEN_FILE", "TLS_CLIENT_CA_FILE", "AUTH_DISABLED=true", "the api would answer anyone"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
		})
	}

	accepted := []struct {
		name string
		set  map[string]string
		want map[string]string // api environment
	}{
		{"a bearer token", with(map[string]string{"AUTH_TOKEN_FILE": secrets + "token"}),
			map[string]string{"AUTH_TOKEN_FILE": secrets + "token", "TLS_CLIENT_CA_FILE": ""}},
		{"mutual TLS, pinned to the Coordinator's name", with(map[string]string{"TLS_CERT_FILE": secrets + "tls.crt", "TLS_KEY_FILE": secrets + "tls.key",
			"TLS_CLIENT_CA_FILE": secrets + "client-ca.crt", "TLS_CLIENT_ALLOWED_NAMES": "witboost-coordinator", "API_SCHEME": "https"}),
			map[string]string{"AUTH_TOKEN_FILE": "", "TLS_CLIENT_CA_FILE": secrets + "client-ca.crt", "TLS_CLIENT_ALLOWED_NAMES": "witboost-coordinator"}},
		{"access control explicitly disabled", with(map[string]string{"AUTH_DISABLED": "true"}),
			map[string]string{"AUTH_TOKEN_FILE": "", "TLS_CLIENT_CA_FILE": ""}},
	}
	for _, tt := range accepted {
		t.Run("accepted: "+tt.name, func(t *testing.T) {
			p, err := tryLoadComposeFiles([]string{"../docker-compose.yml"}, exampleWith(t, tt.set))
			if err != nil {
				t.Fatal(err)
			}
			api := service(t, p, "api")
			for v, want := range tt.want {
				if got, _ := env(api, v); got != want {
					t.Errorf("api %s = %q, want %q", v, got, want)
				}
			}
			if _, ok := env(api, "AUTH_DISABLED"); ok {
				t.Error("AUTH_DISABLED reaches the api: it only lifts compose's guard")
			}
		})
	}

	t.Run("the demo runs open, saying so", func(t *testing.T) {
		p := loadCompose(t, "compose/demo.env")
		api := service(t, p, "api")
		for _, v := range []string{"AUTH_TOKEN_FILE", "TLS_CLIENT_CA_FILE"} {
			if got, _ := env(api, v); got != "" {
				t.Errorf("demo %s = %q: the demo's sample curl sends no credential", v, got)
			}
		}
		if got := api.Labels["org.witboost.cde-spark-provisioner.access-control"]; got != "true" {
			t.Errorf("demo access-control label %q, want AUTH_DISABLED's true", got)
		}
	})
}

// TestComposeS3AllowedPrefixes checks the worker's artifact allowlist: the example scopes each
// data product to its own prefix of a bucket to name, the demo lets every sample's artifacts
// through, and without the variable every artifact is refused.
func TestComposeS3AllowedPrefixes(t *testing.T) {
	tests := []struct {
		name, envFile, want string
	}{
		{"the example: each data product's own prefix of the bucket to name", "../.env.example", "s3://<bucket>/{domain}/{dataProduct}/"},
		{"the demo: each sample data product's prefix of the local S3's bucket", "compose/demo.env", "s3://artifacts/{domain}/{dataProduct}/"},
		{"unset: a bucket no bucket can be named, so nothing is read", exampleWith(t, map[string]string{"S3_ALLOWED_PREFIXES": "-"}), "s3://<bucket>/"},
		{"empty: the same, compose has no unrestricted default", exampleWith(t, map[string]string{"S3_ALLOWED_PREFIXES": ""}), "s3://<bucket>/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := loadCompose(t, tt.envFile)
			got, _ := env(service(t, p, "worker"), "S3_ALLOWED_PREFIXES")
			if got != tt.want {
				t.Errorf("worker S3_ALLOWED_PREFIXES = %q, want %q", got, tt.want)
			}
			if _, err := artifacts.ParseAllowlist(got); err != nil {
				t.Errorf("the worker would refuse to start with S3_ALLOWED_PREFIXES=%q: %v", got, err)
			}
			if _, ok := env(service(t, p, "api"), "S3_ALLOWED_PREFIXES"); ok {
				t.Error("the api gets S3_ALLOWED_PREFIXES: only the worker reads artifacts")
			}
		})
	}

	t.Run("the demo's allowlist lets every example's artifacts through", func(t *testing.T) {
		prefixes, _ := env(service(t, loadCompose(t, "compose/demo.env"), "worker"), "S3_ALLOWED_PREFIXES")
		examples, _ := filepath.Glob("../examples/*.yaml")
		checked := 0
		for _, f := range examples {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var d struct {
				DataProduct struct{ Domain, Name, Environment string } `yaml:"dataProduct"`
			}
			if err := yaml.Unmarshal(raw, &d); err != nil || d.DataProduct.Name == "" {
				continue // not a descriptor (the simulator's seed)
			}
			expand := strings.NewReplacer("{domain}", d.DataProduct.Domain, "{dataProduct}", d.DataProduct.Name, "{environment}", d.DataProduct.Environment)
			for _, loc := range regexp.MustCompile(`s3://[^\s"']+`).FindAllString(string(raw), -1) {
				allowed := false
				for p := range strings.SplitSeq(prefixes, ",") {
					allowed = allowed || strings.HasPrefix(loc, expand.Replace(p))
				}
				if !allowed {
					t.Errorf("%s: %s is outside the demo's S3_ALLOWED_PREFIXES %s", f, loc, prefixes)
				}
				checked++
			}
		}
		if checked == 0 {
			t.Fatal("no artifact found in examples/")
		}
	})
}

// TestEveryREADMEVariableIsDocumentedForOperators keeps the README's configuration table, the
// chart's README and the env files of compose in step: a variable added to the table must be
// mapped to a value in the chart's README and shown in an env file, or be listed here with why.
func TestEveryREADMEVariableIsDocumentedForOperators(t *testing.T) {
	vars := readmeVars(t)
	chartREADME, err := os.ReadFile("helm/cde-spark-provisioner/README.md")
	if err != nil {
		t.Fatal(err)
	}
	var envFiles []byte
	for _, f := range []string{"../.env.example", "compose/temporal-mtls.env.example", "compose/temporal-cloud.env.example"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		envFiles = append(envFiles, b...)
	}
	notInEnvFiles := map[string]string{
		"HTTP_ADDR":            "fixed inside the container; API_PUBLISH chooses the host side",
		"HEALTH_ADDR":          "fixed inside the container; only the health check uses it",
		"TEMPORAL_CONFIG_FILE": "a profile file is the alternative to the secured-Temporal examples (docs/operations.md)",
		"TEMPORAL_PROFILE":     "goes with TEMPORAL_CONFIG_FILE",
	}
	for _, v := range slices.Compact(slices.Sorted(slices.Values(append(vars["api"], vars["worker"]...)))) {
		if !strings.Contains(string(chartREADME), "`"+v+"`") {
			t.Errorf("%s (README configuration table) is not in the chart README's table of values", v)
		}
		if _, ok := notInEnvFiles[v]; ok {
			continue
		}
		if !regexp.MustCompile(`(?m)^#? ?` + v + `=`).Match(envFiles) {
			t.Errorf("%s (README configuration table) is in neither .env.example nor the secured-Temporal examples", v)
		}
	}
}
