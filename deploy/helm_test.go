package deploy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/witboost-community/cde-spark-provisioner/artifacts"
)

// The chart is checked with the Helm CLI pinned in tools/helm (its own module, like the
// Temporal CLI), run as `go -C ../tools/helm tool helm …`: the first run builds it (a minute
// or two; `make helm-cli` does it ahead of the tests), later runs take it from the build cache.

const (
	chartPath = "../../deploy/helm/cde-spark-provisioner" // relative to tools/helm, where helm runs
	// kubeVersion is the cluster version rendered for: the chart needs >= 1.25, and Helm built
	// from source assumes v1.20 when not told.
	kubeVersion      = "1.31.0"
	productionValues = chartPath + "/ci/production-values.yaml"
)

// helm runs the pinned Helm CLI with args and returns its standard output.
func helm(t *testing.T, args ...string) (string, error) {
	t.Helper()
	trackFiles(t, "helm")
	cmd := exec.Command("go", append([]string{"-C", "../tools/helm", "tool", "helm"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), errors.New(strings.TrimSpace(err.Error() + ": " + stderr.String()))
	}
	return stdout.String(), nil
}

// The parts of the rendered objects the tests read.
type (
	object struct {
		APIVersion string    `yaml:"apiVersion"`
		Kind       string    `yaml:"kind"`
		Metadata   metadata  `yaml:"metadata"`
		Spec       yaml.Node `yaml:"spec"`
	}
	metadata struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	selector struct {
		MatchLabels map[string]string `yaml:"matchLabels"`
	}
	deploymentSpec struct {
		Replicas *int     `yaml:"replicas"`
		Selector selector `yaml:"selector"`
		Strategy struct {
			Type          string `yaml:"type"`
			RollingUpdate *struct {
				MaxSurge       any `yaml:"maxSurge"`
				MaxUnavailable any `yaml:"maxUnavailable"`
			} `yaml:"rollingUpdate"`
		} `yaml:"strategy"`
		Template struct {
			Metadata metadata `yaml:"metadata"`
			Spec     podSpec  `yaml:"spec"`
		} `yaml:"template"`
	}
	podSpec struct {
		ServiceAccountName            string      `yaml:"serviceAccountName"`
		AutomountServiceAccountToken  *bool       `yaml:"automountServiceAccountToken"`
		TerminationGracePeriodSeconds int         `yaml:"terminationGracePeriodSeconds"`
		SecurityContext               podSecurity `yaml:"securityContext"`
		Containers                    []container `yaml:"containers"`
		Volumes                       []volume    `yaml:"volumes"`
	}
	volume struct {
		Name      string `yaml:"name"`
		ConfigMap *struct {
			Name  string       `yaml:"name"`
			Items []volumeItem `yaml:"items"`
		} `yaml:"configMap"`
		Secret *struct {
			SecretName string       `yaml:"secretName"`
			Items      []volumeItem `yaml:"items"`
		} `yaml:"secret"`
	}
	volumeItem struct {
		Key  string `yaml:"key"`
		Path string `yaml:"path"`
	}
	podSecurity struct {
		RunAsNonRoot *bool `yaml:"runAsNonRoot"`
		RunAsUser    *int  `yaml:"runAsUser"`
	}
	container struct {
		Name  string   `yaml:"name"`
		Image string   `yaml:"image"`
		Env   []envVar `yaml:"env"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		LivenessProbe   *probe `yaml:"livenessProbe"`
		ReadinessProbe  *probe `yaml:"readinessProbe"`
		SecurityContext struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		Resources struct {
			Requests map[string]string `yaml:"requests"`
			Limits   map[string]string `yaml:"limits"`
		} `yaml:"resources"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			SubPath   string `yaml:"subPath"`
		} `yaml:"volumeMounts"`
	}
	envVar struct {
		Name      string  `yaml:"name"`
		Value     *string `yaml:"value"`
		ValueFrom *struct {
			SecretKeyRef *struct {
				Name     string `yaml:"name"`
				Key      string `yaml:"key"`
				Optional bool   `yaml:"optional"`
			} `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	}
	probe struct {
		HTTPGet *struct {
			Path   string `yaml:"path"`
			Port   string `yaml:"port"`
			Scheme string `yaml:"scheme"`
		} `yaml:"httpGet"`
		TCPSocket *struct {
			Port string `yaml:"port"`
		} `yaml:"tcpSocket"`
	}
	scaleTargetRef struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Name       string `yaml:"name"`
	}
	hpaSpec struct {
		ScaleTargetRef scaleTargetRef `yaml:"scaleTargetRef"`
		MinReplicas    int            `yaml:"minReplicas"`
		MaxReplicas    int            `yaml:"maxReplicas"`
		Metrics        []struct {
			Type     string `yaml:"type"`
			External *struct {
				Metric struct {
					Name     string   `yaml:"name"`
					Selector selector `yaml:"selector"`
				} `yaml:"metric"`
			} `yaml:"external"`
			Resource *struct {
				Name string `yaml:"name"`
			} `yaml:"resource"`
		} `yaml:"metrics"`
	}
	scaledObjectSpec struct {
		ScaleTargetRef scaleTargetRef `yaml:"scaleTargetRef"`
		Triggers       []struct {
			Type     string            `yaml:"type"`
			Metadata map[string]string `yaml:"metadata"`
		} `yaml:"triggers"`
	}
	serviceSpec struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
	}
	pdbSpec struct {
		Selector       selector `yaml:"selector"`
		MinAvailable   *int     `yaml:"minAvailable"`
		MaxUnavailable *int     `yaml:"maxUnavailable"`
	}
)

// release is a rendered chart.
type release struct {
	objects []object
}

func render(t *testing.T, args ...string) release {
	t.Helper()
	out, err := helm(t, append([]string{"template", "rel", chartPath, "--kube-version", kubeVersion}, args...)...)
	if err != nil {
		t.Fatalf("helm template %v: %v", args, err)
	}
	var r release
	dec := yaml.NewDecoder(strings.NewReader(out))
	for {
		var o object
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("rendered YAML: %v", err)
		}
		if o.Kind != "" {
			r.objects = append(r.objects, o)
		}
	}
	return r
}

// get returns the one object of kind named name and decodes its spec into spec.
func (r release) get(t *testing.T, kind, name string, spec any) object {
	t.Helper()
	for _, o := range r.objects {
		if o.Kind == kind && o.Metadata.Name == name {
			if spec != nil {
				if err := o.Spec.Decode(spec); err != nil {
					t.Fatalf("%s %s: %v", kind, name, err)
				}
			}
			return o
		}
	}
	t.Fatalf("no %s %s rendered (have %v)", kind, name, r.kinds())
	return object{}
}

// kinds counts the rendered objects by kind.
func (r release) kinds() map[string]int {
	m := map[string]int{}
	for _, o := range r.objects {
		m[o.Kind]++
	}
	return m
}

func (c container) env(name string) (envVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return envVar{}, false
}

func (c container) port(name string) int {
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}

// fileSource says where the file at path comes from in pod: "secret <name>" or "configMap
// <name>" of the volume mounted above it, "" when no volume holds it. A subPath mount does not
// count: it never sees a rotated Secret.
func fileSource(pod podSpec, c container, path string) string {
	for _, m := range c.VolumeMounts {
		if m.SubPath != "" || !strings.HasPrefix(path, m.MountPath+"/") {
			continue
		}
		for _, v := range pod.Volumes {
			switch {
			case v.Name != m.Name:
			case v.Secret != nil:
				return "secret " + v.Secret.SecretName
			case v.ConfigMap != nil:
				return "configMap " + v.ConfigMap.Name
			}
		}
	}
	return ""
}

// fileKey says which key of which Secret or ConfigMap the file at path is: "secret <name> key
// <key>" (or "configMap ..."), "" when no volume mounted without subPath holds it. A volume
// without items holds every key under its own name.
func fileKey(pod podSpec, c container, path string) string {
	for _, m := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(path, m.MountPath+"/")
		if m.SubPath != "" || !ok {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			source, items := "", []volumeItem(nil)
			switch {
			case v.Secret != nil:
				source, items = "secret "+v.Secret.SecretName, v.Secret.Items
			case v.ConfigMap != nil:
				source, items = "configMap "+v.ConfigMap.Name, v.ConfigMap.Items
			default:
				return ""
			}
			if len(items) == 0 {
				return source + " key " + rel
			}
			for _, it := range items {
				if it.Path == rel {
					return source + " key " + it.Key
				}
			}
		}
	}
	return ""
}

// deref is *s, "" for nil.
func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// String shows a probe in failure messages.
func (p *probe) String() string {
	switch {
	case p == nil:
		return "none"
	case p.HTTPGet != nil:
		return "GET " + p.HTTPGet.Path + " on port " + p.HTTPGet.Port
	case p.TCPSocket != nil:
		return "TCP on port " + p.TCPSocket.Port
	}
	return "an exec or gRPC probe"
}

// selects reports whether a label selector matches labels.
func selects(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false // an empty selector would select every pod of the namespace
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestHelmLint(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"default values lint cleanly", nil},
		{"production-like values lint cleanly", []string{"-f", productionValues}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := helm(t, append([]string{"lint", "--strict", "--kube-version", kubeVersion, chartPath}, tt.args...)...)
			if err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
		})
	}
}

func TestHelmTemplate(t *testing.T) {
	vars, defaults := readmeTable(t)
	tests := []struct {
		name string
		args []string
		// what the values ask for
		wantKinds      map[string]int
		wantAutoscaler string // HorizontalPodAutoscaler, ScaledObject or ""
		wantExternal   bool   // the HPA has the Temporal-aware external metric
		wantAWSSecret  string
		wantCA         bool
		secrets        [2]string // CDP key and CDE workload user Secrets
		// the api's access control: token Secret, TLS Secret, client CA ConfigMap ("": off)
		wantAuth [3]string
		wantOTLP string
		full     bool // the values set every README variable
	}{
		{
			name:           "default values: both deployments, CPU-based worker HPA, PDBs",
			wantKinds:      map[string]int{"Deployment": 2, "Service": 1, "PodDisruptionBudget": 2, "HorizontalPodAutoscaler": 1, "ServiceAccount": 1},
			wantAutoscaler: "HorizontalPodAutoscaler",
			secrets:        [2]string{"cde-spark-provisioner-cdp", "cde-spark-provisioner-cde"},
			wantAuth:       [3]string{defaultTokenSecret, "", ""},
		},
		{
			name:           "production values: Temporal-aware HPA, AWS keys and extra CA from the cluster",
			args:           []string{"-f", productionValues},
			wantKinds:      map[string]int{"Deployment": 2, "Service": 1, "PodDisruptionBudget": 2, "HorizontalPodAutoscaler": 1, "ServiceAccount": 1},
			wantAutoscaler: "HorizontalPodAutoscaler",
			wantExternal:   true,
			wantAWSSecret:  "witboost-artifacts-s3",
			wantCA:         true,
			secrets:        [2]string{"witboost-cdp-api-key", "witboost-cde-workload-user"},
			wantAuth:       [3]string{"witboost-coordinator-token", "cde-spark-provisioner-api-tls", "witboost-coordinator-ca"},
			wantOTLP:       "http://otel-collector.observability.svc:4318",
			full:           true,
		},
		{
			name:           "KEDA mode: a ScaledObject on the task-queue backlog and no HPA of the chart's",
			args:           []string{"--set", "worker.autoscaling.mode=keda"},
			wantKinds:      map[string]int{"Deployment": 2, "Service": 1, "PodDisruptionBudget": 2, "ScaledObject": 1, "ServiceAccount": 1},
			wantAutoscaler: "ScaledObject",
			secrets:        [2]string{"cde-spark-provisioner-cdp", "cde-spark-provisioner-cde"},
			wantAuth:       [3]string{defaultTokenSecret, "", ""},
		},
		{
			name:      "autoscaling off: fixed worker replicas, no autoscaler",
			args:      []string{"--set", "worker.autoscaling.enabled=false", "--set", "worker.replicaCount=4"},
			wantKinds: map[string]int{"Deployment": 2, "Service": 1, "PodDisruptionBudget": 2, "ServiceAccount": 1},
			secrets:   [2]string{"cde-spark-provisioner-cdp", "cde-spark-provisioner-cde"},
			wantAuth:  [3]string{defaultTokenSecret, "", ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := render(t, tt.args...)
			if got := r.kinds(); !maps.Equal(got, tt.wantKinds) {
				t.Errorf("kinds %v, want %v", got, tt.wantKinds)
			}
			if r.kinds()["Secret"] != 0 {
				t.Error("the chart renders a Secret: credentials must come from existing Secrets only")
			}

			var api, worker deploymentSpec
			r.get(t, "Deployment", "rel-cde-spark-provisioner-api", &api)
			r.get(t, "Deployment", "rel-cde-spark-provisioner-worker", &worker)
			if len(api.Template.Spec.Containers) != 1 || len(worker.Template.Spec.Containers) != 1 {
				t.Fatalf("want one container per pod, got %d and %d", len(api.Template.Spec.Containers), len(worker.Template.Spec.Containers))
			}
			apiC, workerC := api.Template.Spec.Containers[0], worker.Template.Spec.Containers[0]
			deployments := map[string]deploymentSpec{"api": api, "worker": worker}

			t.Run("every object carries the chart's name and instance labels", func(t *testing.T) {
				for _, o := range r.objects {
					if o.Metadata.Labels["app.kubernetes.io/name"] != "cde-spark-provisioner" || o.Metadata.Labels["app.kubernetes.io/instance"] != "rel" {
						t.Errorf("%s %s labels %v", o.Kind, o.Metadata.Name, o.Metadata.Labels)
					}
				}
			})
			t.Run("each deployment selects its own pods and not the other's", func(t *testing.T) {
				for name, d := range deployments {
					if !selects(d.Selector.MatchLabels, d.Template.Metadata.Labels) {
						t.Errorf("%s selector %v does not match its pod labels %v", name, d.Selector.MatchLabels, d.Template.Metadata.Labels)
					}
				}
				if selects(api.Selector.MatchLabels, worker.Template.Metadata.Labels) || selects(worker.Selector.MatchLabels, api.Template.Metadata.Labels) {
					t.Error("the api and worker selectors overlap")
				}
			})
			t.Run("the api Service routes to the api pods' http port", func(t *testing.T) {
				var svc serviceSpec
				r.get(t, "Service", "rel-cde-spark-provisioner-api", &svc)
				if !selects(svc.Selector, api.Template.Metadata.Labels) || selects(svc.Selector, worker.Template.Metadata.Labels) {
					t.Errorf("Service selector %v", svc.Selector)
				}
				if len(svc.Ports) != 1 || apiC.port(svc.Ports[0].TargetPort) == 0 {
					t.Errorf("Service ports %+v: the target port is no port of the api container", svc.Ports)
				}
			})
			t.Run("a PodDisruptionBudget covers each component's pods", func(t *testing.T) {
				for name, d := range deployments {
					var pdb pdbSpec
					r.get(t, "PodDisruptionBudget", "rel-cde-spark-provisioner-"+name, &pdb)
					if !maps.Equal(pdb.Selector.MatchLabels, d.Selector.MatchLabels) {
						t.Errorf("%s PDB selector %v, deployment selector %v", name, pdb.Selector.MatchLabels, d.Selector.MatchLabels)
					}
					if (pdb.MinAvailable == nil) == (pdb.MaxUnavailable == nil) {
						t.Errorf("%s PDB: want exactly one of minAvailable and maxUnavailable", name)
					}
				}
			})
			t.Run("probes: api readiness on /health, worker /healthz and /readyz, on the ports the processes listen on", func(t *testing.T) {
				httpAddr, _ := apiC.env("HTTP_ADDR")
				if rp := apiC.ReadinessProbe; rp == nil || rp.HTTPGet == nil || rp.HTTPGet.Path != "/health" || ":"+strconv.Itoa(apiC.port(rp.HTTPGet.Port)) != *httpAddr.Value {
					t.Errorf("api readiness probe %s (HTTP_ADDR %v)", rp, *httpAddr.Value)
				}
				// Liveness must not depend on Temporal: restarting every API pod in a Temporal
				// outage would not help.
				if lp := apiC.LivenessProbe; lp == nil || lp.TCPSocket == nil || apiC.port(lp.TCPSocket.Port) == 0 {
					t.Errorf("api liveness probe %s", lp)
				}
				healthAddr, _ := workerC.env("HEALTH_ADDR")
				for path, p := range map[string]*probe{"/healthz": workerC.LivenessProbe, "/readyz": workerC.ReadinessProbe} {
					if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || ":"+strconv.Itoa(workerC.port(p.HTTPGet.Port)) != *healthAddr.Value {
						t.Errorf("worker probe for %s: %s (HEALTH_ADDR %v)", path, p, *healthAddr.Value)
					}
				}
			})
			t.Run("pods run non-root with a read-only root filesystem and no capabilities", func(t *testing.T) {
				for name, d := range deployments {
					ps, cs := d.Template.Spec.SecurityContext, d.Template.Spec.Containers[0].SecurityContext
					if ps.RunAsNonRoot == nil || !*ps.RunAsNonRoot || ps.RunAsUser == nil || *ps.RunAsUser == 0 {
						t.Errorf("%s pod securityContext %+v", name, ps)
					}
					if !cs.ReadOnlyRootFilesystem || cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation || !slices.Equal(cs.Capabilities.Drop, []string{"ALL"}) {
						t.Errorf("%s container securityContext %+v", name, cs)
					}
					if sa := d.Template.Spec.AutomountServiceAccountToken; sa == nil || *sa {
						t.Errorf("%s mounts a service account token it does not need", name)
					}
					res := d.Template.Spec.Containers[0].Resources
					if res.Requests["cpu"] == "" || res.Requests["memory"] == "" || res.Limits["memory"] == "" {
						t.Errorf("%s resources %+v: want cpu and memory requests and a memory limit", name, res)
					}
				}
			})
			t.Run("credentials come from Secrets, never from values", func(t *testing.T) {
				fromSecret := map[string]string{
					"CDP_ACCESS_KEY_ID": tt.secrets[0], "CDP_PRIVATE_KEY": tt.secrets[0],
					"CDP_DEPLOY_ROLE_USER": tt.secrets[1], "CDP_DEPLOY_ROLE_PASSWORD": tt.secrets[1],
				}
				if tt.wantAWSSecret != "" {
					fromSecret["AWS_ACCESS_KEY_ID"] = tt.wantAWSSecret
					fromSecret["AWS_SECRET_ACCESS_KEY"] = tt.wantAWSSecret
					fromSecret["AWS_SESSION_TOKEN"] = tt.wantAWSSecret
				}
				for name, secret := range fromSecret {
					e, ok := workerC.env(name)
					if !ok || e.Value != nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != secret || e.ValueFrom.SecretKeyRef.Key != name {
						t.Errorf("worker %s = %+v, want secretKeyRef %s/%s", name, e, secret, name)
					}
				}
				if e, ok := workerC.env("AWS_SESSION_TOKEN"); ok && !e.ValueFrom.SecretKeyRef.Optional {
					t.Error("AWS_SESSION_TOKEN is required from the Secret: long-lived keys have none")
				}
				if tt.wantAWSSecret == "" {
					if _, ok := workerC.env("AWS_SECRET_ACCESS_KEY"); ok {
						t.Error("AWS keys set although secrets.aws.existingSecret is empty (the SDK chain, e.g. IRSA, should apply)")
					}
				}
				for _, name := range []string{"CDP_PRIVATE_KEY", "CDP_DEPLOY_ROLE_PASSWORD", "AWS_SECRET_ACCESS_KEY"} {
					if _, ok := apiC.env(name); ok {
						t.Errorf("the api gets %s: only the worker talks to CDP, CDE and S3", name)
					}
				}
			})
			t.Run("the processes get the README's variables", func(t *testing.T) {
				// A variable whose README default is "off" (or left to the system or the AWS SDK)
				// is set only when its value is; the production values set every one.
				// The Temporal connection's optional variables (TLS, API key, profile) depend on
				// which way of connecting the values choose: TestHelmTemplateTemporalConnection
				// checks them.
				unsetByDefault := func(v string) bool {
					return slices.Contains(temporalConnectionVars, v) ||
						!tt.full && slices.Contains([]string{"off", "system", "AWS SDK defaults"}, defaults[v])
				}
				for proc, c := range map[string]container{"api": apiC, "worker": workerC} {
					for _, v := range vars[proc] {
						if _, ok := c.env(v); !ok && !unsetByDefault(v) {
							t.Errorf("%s lacks %s (README configuration table): add a value for it in the chart's values.yaml, the %s Deployment and the chart README", proc, v, proc)
						}
					}
				}
				for _, v := range []string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "TEMPORAL_TASK_QUEUE", "TEMPORAL_SEARCH_ATTRIBUTES"} {
					a, _ := apiC.env(v)
					w, _ := workerC.env(v)
					if a.Value == nil || w.Value == nil || *a.Value != *w.Value {
						t.Errorf("%s differs between the api and the worker", v)
					}
				}
				sameTemporalConnection(t, api.Template.Spec, worker.Template.Spec)
			})
			t.Run("the worker rolls out as docs/operations.md says: surge one, then drain one, within the grace period", func(t *testing.T) {
				st := worker.Strategy
				if st.Type != "RollingUpdate" || st.RollingUpdate == nil ||
					fmt.Sprint(st.RollingUpdate.MaxSurge) != "1" || fmt.Sprint(st.RollingUpdate.MaxUnavailable) != "0" {
					t.Errorf("worker strategy %+v (rollingUpdate %+v), want RollingUpdate with maxSurge 1 and maxUnavailable 0", st, st.RollingUpdate)
				}
			})
			t.Run("the extra CA is mounted where SSL_CERT_FILE points", func(t *testing.T) {
				for name, d := range deployments {
					c := d.Template.Spec.Containers[0]
					e, ok := c.env("SSL_CERT_FILE")
					if ok != tt.wantCA {
						t.Fatalf("%s SSL_CERT_FILE set %t, want %t", name, ok, tt.wantCA)
					}
					if !ok {
						continue
					}
					mounted := false
					for _, m := range c.VolumeMounts {
						mounted = mounted || strings.HasPrefix(*e.Value, m.MountPath+"/")
					}
					if !mounted {
						t.Errorf("%s SSL_CERT_FILE %s is on no volume mount %+v", name, *e.Value, c.VolumeMounts)
					}
				}
			})
			t.Run("access control files come from the Secrets and ConfigMap named in values, and the probes follow TLS", func(t *testing.T) {
				pod := api.Template.Spec
				for _, v := range []struct{ env, kind, name string }{
					{"AUTH_TOKEN_FILE", "secret", tt.wantAuth[0]},
					{"TLS_CERT_FILE", "secret", tt.wantAuth[1]},
					{"TLS_KEY_FILE", "secret", tt.wantAuth[1]},
					{"TLS_CLIENT_CA_FILE", "configMap", tt.wantAuth[2]},
				} {
					e, ok := apiC.env(v.env)
					if ok != (v.name != "") {
						t.Errorf("api %s set %t, want %t (access control is off unless its values name a source)", v.env, ok, v.name != "")
						continue
					}
					if want := v.kind + " " + v.name; ok && (e.Value == nil || fileSource(pod, apiC, *e.Value) != want) {
						t.Errorf("api %s comes from %q, want %q (%+v)", v.env, fileSource(pod, apiC, deref(e.Value)), want, apiC.VolumeMounts)
					}
				}
				wantScheme := map[bool]string{true: "HTTPS", false: ""}[tt.wantAuth[1] != ""]
				if rp := apiC.ReadinessProbe; rp == nil || rp.HTTPGet == nil || rp.HTTPGet.Scheme != wantScheme {
					t.Errorf("api readiness probe scheme: %s, want %q", rp, wantScheme)
				}
				if _, ok := apiC.env("AUTH_TOKEN_GRACE_PERIOD"); !ok {
					t.Error("AUTH_TOKEN_GRACE_PERIOD is not set")
				}
				for name, c := range map[string]container{"api": apiC, "worker": workerC} {
					e, ok := c.env("OTEL_EXPORTER_OTLP_ENDPOINT")
					if got := ""; ok != (tt.wantOTLP != "") || (ok && *e.Value != tt.wantOTLP) {
						if ok {
							got = *e.Value
						}
						t.Errorf("%s OTEL_EXPORTER_OTLP_ENDPOINT = %q (set %t), want %q", name, got, ok, tt.wantOTLP)
					}
				}
			})
			t.Run("shutdown grace outlasts the processes' own drain", func(t *testing.T) {
				st, _ := apiC.env("SHUTDOWN_TIMEOUT")
				d, err := time.ParseDuration(*st.Value)
				if err != nil || time.Duration(api.Template.Spec.TerminationGracePeriodSeconds)*time.Second <= d {
					t.Errorf("api grace %ds, SHUTDOWN_TIMEOUT %s", api.Template.Spec.TerminationGracePeriodSeconds, *st.Value)
				}
				if worker.Template.Spec.TerminationGracePeriodSeconds <= 30 {
					t.Errorf("worker grace %ds, want more than its 30 s WorkerStopTimeout", worker.Template.Spec.TerminationGracePeriodSeconds)
				}
			})
			t.Run("the images are the api and worker targets", func(t *testing.T) {
				if !strings.Contains(apiC.Image, "-api") || !strings.Contains(workerC.Image, "-worker") {
					t.Errorf("images %q and %q", apiC.Image, workerC.Image)
				}
			})

			t.Run("the autoscaler targets the worker Deployment", func(t *testing.T) {
				wantTarget := scaleTargetRef{APIVersion: "apps/v1", Kind: "Deployment", Name: "rel-cde-spark-provisioner-worker"}
				switch tt.wantAutoscaler {
				case "HorizontalPodAutoscaler":
					var hpa hpaSpec
					r.get(t, "HorizontalPodAutoscaler", "rel-cde-spark-provisioner-worker", &hpa)
					if hpa.ScaleTargetRef != wantTarget || hpa.MinReplicas < 1 || hpa.MaxReplicas < hpa.MinReplicas {
						t.Errorf("HPA %+v", hpa)
					}
					queue, _ := workerC.env("TEMPORAL_TASK_QUEUE")
					external := false
					for _, m := range hpa.Metrics {
						if m.External != nil {
							external = strings.Contains(m.External.Metric.Name, "schedule_to_start_latency") && m.External.Metric.Selector.MatchLabels["task_queue"] == *queue.Value
						}
					}
					if external != tt.wantExternal {
						t.Errorf("HPA on the worker's schedule-to-start latency of its task queue: %t, want %t (%+v)", external, tt.wantExternal, hpa.Metrics)
					}
				case "ScaledObject":
					var so scaledObjectSpec
					r.get(t, "ScaledObject", "rel-cde-spark-provisioner-worker", &so)
					if so.ScaleTargetRef != wantTarget {
						t.Errorf("ScaledObject target %+v", so.ScaleTargetRef)
					}
					found := false
					for _, tr := range so.Triggers {
						if tr.Type != "temporal" {
							continue
						}
						found = true
						for key, env := range map[string]string{"endpoint": "TEMPORAL_ADDRESS", "namespace": "TEMPORAL_NAMESPACE", "taskQueue": "TEMPORAL_TASK_QUEUE"} {
							if e, _ := workerC.env(env); e.Value == nil || tr.Metadata[key] != *e.Value {
								t.Errorf("temporal trigger %s = %q, worker %s = %v", key, tr.Metadata[key], env, e.Value)
							}
						}
					}
					if !found {
						t.Errorf("no temporal trigger in %+v", so.Triggers)
					}
				}
				if (tt.wantAutoscaler != "") == (worker.Replicas != nil) {
					t.Errorf("worker replicas %v with autoscaler %q: the Deployment must leave the count to the autoscaler, and only to it", worker.Replicas, tt.wantAutoscaler)
				}
			})
		})
	}
}

func TestHelmTemplateRefusesBadValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no CDP Secret is an error, not a pod failing at start", []string{"--set", "secrets.cdp.existingSecret="}, "secrets.cdp.existingSecret"},
		{"no CDE workload user Secret is an error", []string{"--set", "secrets.cde.existingSecret="}, "secrets.cde.existingSecret"},
		{"an unknown autoscaling mode is an error", []string{"--set", "worker.autoscaling.mode=magic"}, "want cpu, prometheus or keda"},
		{"a cluster older than the chart supports is refused", []string{"--kube-version", "1.22.0"}, "kubeVersion"},
		{"a client CA without HTTPS is an error, not an api that refuses to start", []string{"--set", "api.tls.clientCAConfigMap=ca"}, "api.tls.clientCAConfigMap (mutual TLS) needs api.tls.existingSecret"},
		{"allowed client names without a client CA is an error", []string{"--set", "api.tls.clientAllowedNames={witboost-coordinator}"}, "api.tls.clientAllowedNames pins the identity of client certificates: it needs api.tls.clientCAConfigMap"},
		{"access control disabled while a token is configured is a contradiction", []string{"--set", "api.auth.disabled=true"}, `api.auth.disabled=true, yet access control is configured (api.auth.tokenSecret="` + defaultTokenSecret + `"`},
		{"access control disabled while mutual TLS is configured is a contradiction", []string{"--set", "api.auth.disabled=true,api.auth.tokenSecret=,api.tls.existingSecret=tls,api.tls.clientCAConfigMap=ca"}, `api.tls.clientCAConfigMap="ca"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"template", "rel", chartPath}, tt.args...)
			if !slices.Contains(tt.args, "--kube-version") {
				args = append(args, "--kube-version", kubeVersion)
			}
			_, err := helm(t, args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("helm %v: %v, want an error containing %q", args, err, tt.want)
			}
		})
	}
}

// defaultTokenSecret is the Secret of the bearer token in the chart's default values: like the
// CDP and CDE Secrets, one the operator creates.
const defaultTokenSecret = "cde-spark-provisioner-api-token"

// apiAndWorker renders the chart with args and returns the api's and the worker's pods and
// containers.
func apiAndWorker(t *testing.T, args ...string) (apiPod podSpec, apiC container, workerPod podSpec, workerC container) {
	t.Helper()
	r := render(t, args...)
	var api, worker deploymentSpec
	r.get(t, "Deployment", "rel-cde-spark-provisioner-api", &api)
	r.get(t, "Deployment", "rel-cde-spark-provisioner-worker", &worker)
	return api.Template.Spec, api.Template.Spec.Containers[0], worker.Template.Spec, worker.Template.Spec.Containers[0]
}

// TestHelmAccessControlIsRequired checks that the chart renders an api that answers anyone only
// when the values say so (api.auth.disabled), and renders each way of securing it.
func TestHelmAccessControlIsRequired(t *testing.T) {
	t.Run("without a token or mutual TLS the chart refuses, naming the values to set", func(t *testing.T) {
		for _, args := range [][]string{
			{"--set", "api.auth.tokenSecret="},
			// HTTPS alone authenticates nobody.
			{"--set", "api.auth.tokenSecret=,api.tls.existingSecret=tls"},
		} {
			_, err := helm(t, append([]string{"template", "rel", chartPath, "--kube-version", kubeVersion}, args...)...)
			if err == nil {
				t.Fatalf("helm template %v rendered an API without access control", args)
			}
			for _, value := range []string{"the API would answer anyone", "api.auth.tokenSecret", "api.tls.existingSecret", "api.tls.clientCAConfigMap", "api.auth.disabled=true"} {
				if !strings.Contains(err.Error(), value) {
					t.Errorf("helm template %v: %v\nwant it to name %q", args, err, value)
				}
			}
		}
	})

	valuesFile := func(t *testing.T, text string) string {
		t.Helper()
		// Not under t.TempDir(): helm splits -f at commas, which test names may hold.
		dir, err := os.MkdirTemp("", "csp-values")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		path := filepath.Join(dir, "values.yaml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name   string
		args   func(t *testing.T) []string
		want   map[string]string // api variable: where its file comes from, or its value; "" = unset
		scheme string            // of the readiness probe
	}{
		{
			name: "a bearer token: the default values name its Secret",
			args: func(*testing.T) []string { return nil },
			want: map[string]string{"AUTH_TOKEN_FILE": "secret " + defaultTokenSecret + " key token", "TLS_CLIENT_CA_FILE": "", "TLS_CLIENT_ALLOWED_NAMES": ""},
		},
		{
			name: "mutual TLS alone, with pinned client names",
			args: func(t *testing.T) []string {
				return []string{"-f", valuesFile(t, `
api:
  auth: {tokenSecret: ""}
  tls:
    existingSecret: api-tls
    clientCAConfigMap: coordinator-ca
    clientCAKey: bundle.pem
    clientAllowedNames: [witboost-coordinator, coordinator.witboost.example.com]
`)}
			},
			want: map[string]string{"AUTH_TOKEN_FILE": "", "TLS_CLIENT_CA_FILE": "configMap coordinator-ca key bundle.pem",
				"TLS_CLIENT_ALLOWED_NAMES": "witboost-coordinator,coordinator.witboost.example.com"},
			scheme: "HTTPS",
		},
		{
			name: "client names as a comma-separated string",
			args: func(*testing.T) []string {
				return []string{"--set", "api.tls.existingSecret=api-tls,api.tls.clientCAConfigMap=coordinator-ca", "--set-string", `api.tls.clientAllowedNames=a\,b`}
			},
			want:   map[string]string{"AUTH_TOKEN_FILE": "secret " + defaultTokenSecret + " key token", "TLS_CLIENT_CA_FILE": "configMap coordinator-ca key ca.crt", "TLS_CLIENT_ALLOWED_NAMES": "a,b"},
			scheme: "HTTPS",
		},
		{
			name: "access control explicitly disabled",
			args: func(*testing.T) []string { return []string{"--set", "api.auth.tokenSecret=,api.auth.disabled=true"} },
			want: map[string]string{"AUTH_TOKEN_FILE": "", "TLS_CLIENT_CA_FILE": "", "TLS_CLIENT_ALLOWED_NAMES": ""},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args(t)
			if out, err := helm(t, append([]string{"lint", "--strict", "--kube-version", kubeVersion, chartPath}, args...)...); err != nil {
				t.Fatalf("helm lint: %v\n%s", err, out)
			}
			pod, c, _, _ := apiAndWorker(t, args...)
			for name, want := range tt.want {
				e, ok := c.env(name)
				got := ""
				switch {
				case ok && strings.HasSuffix(name, "_FILE"):
					got = fileKey(pod, c, deref(e.Value))
				case ok:
					got = deref(e.Value)
				}
				if got != want || ok != (want != "") {
					t.Errorf("api %s = %q (set %t), want %q", name, got, ok, want)
				}
			}
			if _, ok := c.env("AUTH_DISABLED"); ok {
				t.Error("api.auth.disabled reaches the pod: it only lifts the chart's refusal")
			}
			if rp := c.ReadinessProbe; rp == nil || rp.HTTPGet == nil || rp.HTTPGet.Scheme != tt.scheme {
				t.Errorf("readiness probe scheme %+v, want %q", rp, tt.scheme)
			}
		})
	}
}

// TestHelmS3AllowedPrefixes checks the worker's artifact allowlist: scoped per data product by
// default, refusing everything until the bucket is set, and taken from a list or a string.
func TestHelmS3AllowedPrefixes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // "" = not set
	}{
		{"by default each data product's own prefix of a bucket to name, which allows nothing until it is named", nil, "s3://<bucket>/{domain}/{dataProduct}/"},
		{"a string with placeholders", []string{"--set", "worker.s3AllowedPrefixes=s3://witboost-artifacts/{domain}/{dataProduct}/{environment}/"}, "s3://witboost-artifacts/{domain}/{dataProduct}/{environment}/"},
		{"a list, as in the production-like values", []string{"-f", productionValues}, "s3://witboost-artifacts-prod/{domain}/{dataProduct}/,s3://witboost-shared-libs/spark/"},
		{"empty: no restriction, the variable is not set", []string{"--set", "worker.s3AllowedPrefixes="}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, apiC, _, workerC := apiAndWorker(t, tt.args...)
			e, ok := workerC.env("S3_ALLOWED_PREFIXES")
			if ok != (tt.want != "") || deref(e.Value) != tt.want {
				t.Errorf("worker S3_ALLOWED_PREFIXES = %q (set %t), want %q", deref(e.Value), ok, tt.want)
			}
			if _, err := artifacts.ParseAllowlist(deref(e.Value)); err != nil {
				t.Errorf("the worker would refuse to start with S3_ALLOWED_PREFIXES=%q: %v", deref(e.Value), err)
			}
			if _, ok := apiC.env("S3_ALLOWED_PREFIXES"); ok {
				t.Error("the api gets S3_ALLOWED_PREFIXES: only the worker reads artifacts")
			}
		})
	}
}
