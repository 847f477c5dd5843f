package deploy

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// temporalConnectionVars are the variables of Temporal's client convention that the chart sets
// only for a secured Temporal: TLS, mutual TLS, an API key, a profile file.
var temporalConnectionVars = []string{
	"TEMPORAL_API_KEY", "TEMPORAL_TLS", "TEMPORAL_TLS_CLIENT_CERT_PATH", "TEMPORAL_TLS_CLIENT_KEY_PATH",
	"TEMPORAL_TLS_SERVER_CA_CERT_PATH", "TEMPORAL_TLS_SERVER_NAME", "TEMPORAL_PROFILE", "TEMPORAL_CONFIG_FILE",
}

// temporalSetting describes where a container's Temporal variable comes from: "value <v>",
// "secretKeyRef <secret>/<key>", or, for a variable naming a file, "file <secret or configMap>
// <name> key <key>" (a file on no volume, or on a subPath mount, is "file ?").
func temporalSetting(pod podSpec, c container, name string) (string, bool) {
	e, ok := c.env(name)
	switch {
	case !ok:
		return "", false
	case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
		return "secretKeyRef " + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key, true
	case e.Value == nil:
		return "neither a value nor a Secret", true
	case strings.HasSuffix(name, "_PATH") || name == "TEMPORAL_CONFIG_FILE":
		if src := fileKey(pod, c, *e.Value); src != "" {
			return "file " + src, true
		}
		return "file ?", true
	}
	return "value " + *e.Value, true
}

// temporalVars are the TEMPORAL_* variables the container sets.
func temporalVars(c container) []string {
	var names []string
	for _, e := range c.Env {
		if strings.HasPrefix(e.Name, "TEMPORAL_") {
			names = append(names, e.Name)
		}
	}
	return names
}

// sameTemporalConnection checks that the api and the worker connect to Temporal alike: the same
// TEMPORAL_* variables, with the same values, Secrets and files.
func sameTemporalConnection(t *testing.T, apiPod, workerPod podSpec) {
	t.Helper()
	a, w := apiPod.Containers[0], workerPod.Containers[0]
	names := slices.Compact(slices.Sorted(slices.Values(append(temporalVars(a), temporalVars(w)...))))
	for _, name := range names {
		as, aok := temporalSetting(apiPod, a, name)
		ws, wok := temporalSetting(workerPod, w, name)
		if aok != wok || as != ws {
			t.Errorf("%s: api %q (set %t), worker %q (set %t): both processes must reach Temporal the same way", name, as, aok, ws, wok)
		}
	}
}

func TestHelmTemplateTemporalConnection(t *testing.T) {
	const defaultAddress = "value temporal-frontend.temporal.svc.cluster.local:7233"
	tests := []struct {
		name string
		args []string
		// every TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE and temporalConnectionVars variable that
		// must be set, as temporalSetting describes it; the others must not be set
		want map[string]string
	}{
		{
			name: "default values: plaintext, nothing TLS-related",
			want: map[string]string{"TEMPORAL_ADDRESS": defaultAddress, "TEMPORAL_NAMESPACE": "value default"},
		},
		{
			name: "mTLS with a cert-manager Secret: client certificate, key and the server's CA from one Secret",
			args: []string{
				"--set", "temporal.tls.enabled=true",
				"--set", "temporal.tls.existingSecret=temporal-client-tls",
				"--set", "temporal.tls.serverCASecret=temporal-client-tls",
			},
			want: map[string]string{
				"TEMPORAL_ADDRESS": defaultAddress, "TEMPORAL_NAMESPACE": "value default",
				"TEMPORAL_TLS":                     "value true",
				"TEMPORAL_TLS_CLIENT_CERT_PATH":    "file secret temporal-client-tls key tls.crt",
				"TEMPORAL_TLS_CLIENT_KEY_PATH":     "file secret temporal-client-tls key tls.key",
				"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "file secret temporal-client-tls key ca.crt",
			},
		},
		{
			name: "mTLS with other key names, the CA from its own Secret and a server name",
			args: []string{
				"--set", "temporal.tls.enabled=true",
				"--set", "temporal.tls.existingSecret=witboost-temporal-client",
				"--set", "temporal.tls.certKey=client.pem",
				"--set", "temporal.tls.keyKey=client.key",
				"--set", "temporal.tls.serverCASecret=temporal-ca",
				"--set", "temporal.tls.serverCAKey=ca.pem",
				"--set", "temporal.tls.serverName=frontend.temporal.internal",
			},
			want: map[string]string{
				"TEMPORAL_ADDRESS": defaultAddress, "TEMPORAL_NAMESPACE": "value default",
				"TEMPORAL_TLS":                     "value true",
				"TEMPORAL_TLS_CLIENT_CERT_PATH":    "file secret witboost-temporal-client key client.pem",
				"TEMPORAL_TLS_CLIENT_KEY_PATH":     "file secret witboost-temporal-client key client.key",
				"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "file secret temporal-ca key ca.pem",
				"TEMPORAL_TLS_SERVER_NAME":         "value frontend.temporal.internal",
			},
		},
		{
			name: "TLS without a client certificate: server authentication with the system roots",
			args: []string{"--set", "temporal.tls.enabled=true"},
			want: map[string]string{
				"TEMPORAL_ADDRESS": defaultAddress, "TEMPORAL_NAMESPACE": "value default",
				"TEMPORAL_TLS": "value true",
			},
		},
		{
			name: "API key (Temporal Cloud): from a Secret, never a value, and TLS on without being asked",
			args: []string{
				"--set", "temporal.address=us-east-1.aws.api.temporal.io:7233",
				"--set", "temporal.namespace=witboost.a1b2c",
				"--set", "temporal.apiKey.existingSecret=temporal-cloud-api-key",
			},
			want: map[string]string{
				"TEMPORAL_ADDRESS":   "value us-east-1.aws.api.temporal.io:7233",
				"TEMPORAL_NAMESPACE": "value witboost.a1b2c",
				"TEMPORAL_TLS":       "value true",
				"TEMPORAL_API_KEY":   "secretKeyRef temporal-cloud-api-key/TEMPORAL_API_KEY",
			},
		},
		{
			name: "profile file from a Secret: address and namespace left to the profile",
			args: []string{
				"--set", "temporal.address=", "--set", "temporal.namespace=",
				"--set", "temporal.configFile.existingSecret=temporal-profiles",
				"--set", "temporal.profile=cloud",
			},
			want: map[string]string{
				"TEMPORAL_CONFIG_FILE": "file secret temporal-profiles key temporal.toml",
				"TEMPORAL_PROFILE":     "value cloud",
			},
		},
		{
			name: "profile file from a ConfigMap, the chart's address over the profile's",
			args: []string{
				"--set", "temporal.configFile.configMap=temporal-profiles",
				"--set", "temporal.configFile.key=client.toml",
			},
			want: map[string]string{
				"TEMPORAL_ADDRESS": defaultAddress, "TEMPORAL_NAMESPACE": "value default",
				"TEMPORAL_CONFIG_FILE": "file configMap temporal-profiles key client.toml",
			},
		},
		{
			name: "production values: mTLS next to the api's own TLS and the extra CA",
			args: []string{"-f", productionValues},
			want: map[string]string{
				"TEMPORAL_ADDRESS": "value temporal-frontend.temporal.svc.cluster.local:7233", "TEMPORAL_NAMESPACE": "value witboost-prod",
				"TEMPORAL_TLS":                     "value true",
				"TEMPORAL_TLS_CLIENT_CERT_PATH":    "file secret cde-spark-provisioner-temporal-client key tls.crt",
				"TEMPORAL_TLS_CLIENT_KEY_PATH":     "file secret cde-spark-provisioner-temporal-client key tls.key",
				"TEMPORAL_TLS_SERVER_CA_CERT_PATH": "file secret cde-spark-provisioner-temporal-client key ca.crt",
				"TEMPORAL_TLS_SERVER_NAME":         "value frontend.temporal.internal",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := render(t, tt.args...)
			if r.kinds()["Secret"] != 0 || r.kinds()["ConfigMap"] != 0 {
				t.Error("the chart renders a Secret or ConfigMap: the Temporal credentials must come from existing ones only")
			}
			for _, name := range []string{"api", "worker"} {
				var d deploymentSpec
				r.get(t, "Deployment", "rel-cde-spark-provisioner-"+name, &d)
				pod := d.Template.Spec
				c := pod.Containers[0]
				for _, v := range append([]string{"TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE"}, temporalConnectionVars...) {
					got, ok := temporalSetting(pod, c, v)
					want, wantOK := tt.want[v]
					if ok != wantOK || got != want {
						t.Errorf("%s %s: %q (set %t), want %q (set %t)", name, v, got, ok, want, wantOK)
					}
				}
				// Nothing of Temporal's is mounted unless a file is named, and never through
				// subPath, which would never see a renewed certificate.
				tlsFiles := slices.ContainsFunc(slices.Collect(maps.Values(tt.want)), func(s string) bool { return strings.HasPrefix(s, "file ") })
				mounted := false
				for _, m := range c.VolumeMounts {
					if strings.HasPrefix(m.MountPath, "/etc/cde-spark-provisioner/temporal") {
						mounted = true
						if m.SubPath != "" {
							t.Errorf("%s mounts %s through subPath %s", name, m.MountPath, m.SubPath)
						}
					}
				}
				if mounted != tlsFiles {
					t.Errorf("%s: Temporal files mounted %t, want %t (%+v)", name, mounted, tlsFiles, c.VolumeMounts)
				}
				for _, v := range pod.Volumes {
					if strings.HasPrefix(v.Name, "temporal-") && !tlsFiles {
						t.Errorf("%s has the volume %s although no Temporal file is configured", name, v.Name)
					}
				}
			}
		})
	}
}

func TestHelmTemplateRefusesBadTemporalValues(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no address and no profile file", []string{"--set", "temporal.address="}, "temporal.address is required"},
		{"a profile without a profile file", []string{"--set", "temporal.profile=cloud"}, "temporal.configFile"},
		{"a profile file from both a Secret and a ConfigMap", []string{"--set", "temporal.configFile.existingSecret=a", "--set", "temporal.configFile.configMap=b"}, "not both"},
		{"a client certificate while TLS is off would be ignored", []string{"--set", "temporal.tls.existingSecret=temporal-client-tls"}, "temporal.tls.enabled=true"},
		{"KEDA's scaler needs the address even when the profile gives it to the processes", []string{
			"--set", "worker.autoscaling.mode=keda", "--set", "temporal.address=", "--set", "temporal.configFile.configMap=p",
		}, "KEDA's temporal scaler needs temporal.address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"template", "rel", chartPath, "--kube-version", kubeVersion}, tt.args...)
			_, err := helm(t, args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("helm %v: %v, want an error containing %q", args, err, tt.want)
			}
		})
	}
}
