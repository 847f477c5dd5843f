{{/* Chart name, overridable. */}}
{{- define "csp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; the release name alone when it already contains the chart name. */}}
{{- define "csp.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "csp.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "csp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: witboost
{{- end }}

{{/*
Selector labels of one component (api or worker): call with (dict "ctx" $ "component" "api").
They never change between releases, since a Deployment's selector is immutable.
*/}}
{{- define "csp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "csp.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "csp.componentLabels" -}}
{{ include "csp.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "csp.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "csp.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Image reference of one component: repository@digest, else repository:tag (appVersion by default). */}}
{{- define "csp.image" -}}
{{- $img := index .ctx.Values.image .component }}
{{- if $img.digest }}
{{- printf "%s@%s" $img.repository $img.digest }}
{{- else }}
{{- printf "%s:%s" $img.repository (default .ctx.Chart.AppVersion $img.tag) }}
{{- end }}
{{- end }}

{{/*
Checks of the Temporal connection values: a setting that would be ignored, or a pod that
could never connect, fails the install rather than the pods.
*/}}
{{- define "csp.temporalChecks" -}}
{{- $t := .Values.temporal }}
{{- $cf := $t.configFile }}
{{- if and $cf.existingSecret $cf.configMap }}
{{- fail "temporal.configFile: set existingSecret or configMap, not both" }}
{{- end }}
{{- if not (or $t.address $cf.existingSecret $cf.configMap) }}
{{- fail "temporal.address is required (or a profile file in temporal.configFile that gives the address)" }}
{{- end }}
{{- if and $t.profile (not (or $cf.existingSecret $cf.configMap)) }}
{{- fail "temporal.profile names a profile of temporal.configFile: set temporal.configFile.existingSecret or temporal.configFile.configMap" }}
{{- end }}
{{- if and (not $t.tls.enabled) (or $t.tls.existingSecret $t.tls.serverCASecret $t.tls.serverName) }}
{{- fail "temporal.tls.existingSecret, serverCASecret and serverName are used only with temporal.tls.enabled=true" }}
{{- end }}
{{- end }}

{{/* TLS towards Temporal is on: asked for, or implied by an API key (Temporal Cloud needs it). */}}
{{- define "csp.temporalTLS" -}}
{{- if or .Values.temporal.tls.enabled .Values.temporal.apiKey.existingSecret }}true{{ end }}
{{- end }}

{{/*
Environment shared by the api and the worker. The Temporal connection's optional variables
are rendered only when their value is set: an empty TEMPORAL_TLS_* variable is not "unset" to
Temporal's loader (it would turn TLS on).
*/}}
{{- define "csp.commonEnv" -}}
{{- include "csp.temporalChecks" . }}
{{- $t := .Values.temporal }}
{{- with $t.address }}
- name: TEMPORAL_ADDRESS
  value: {{ . | quote }}
{{- end }}
{{- with $t.namespace }}
- name: TEMPORAL_NAMESPACE
  value: {{ . | quote }}
{{- end }}
- name: TEMPORAL_TASK_QUEUE
  value: {{ $t.taskQueue | quote }}
- name: TEMPORAL_SEARCH_ATTRIBUTES
  value: {{ $t.searchAttributes | quote }}
{{- if include "csp.temporalTLS" . }}
- name: TEMPORAL_TLS
  value: "true"
{{- end }}
{{- if $t.tls.enabled }}
{{- with $t.tls.existingSecret }}
- name: TEMPORAL_TLS_CLIENT_CERT_PATH
  value: /etc/cde-spark-provisioner/temporal/client/{{ $t.tls.certKey }}
- name: TEMPORAL_TLS_CLIENT_KEY_PATH
  value: /etc/cde-spark-provisioner/temporal/client/{{ $t.tls.keyKey }}
{{- end }}
{{- with $t.tls.serverCASecret }}
- name: TEMPORAL_TLS_SERVER_CA_CERT_PATH
  value: /etc/cde-spark-provisioner/temporal/server-ca/{{ $t.tls.serverCAKey }}
{{- end }}
{{- with $t.tls.serverName }}
- name: TEMPORAL_TLS_SERVER_NAME
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- with $t.apiKey.existingSecret }}
{{- include "csp.secretEnv" (dict "name" "TEMPORAL_API_KEY" "secret" . "key" $t.apiKey.key) | nindent 0 }}
{{- end }}
{{- if or $t.configFile.existingSecret $t.configFile.configMap }}
- name: TEMPORAL_CONFIG_FILE
  value: /etc/cde-spark-provisioner/temporal/config/{{ $t.configFile.key }}
{{- end }}
{{- with $t.profile }}
- name: TEMPORAL_PROFILE
  value: {{ . | quote }}
{{- end }}
- name: LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- with .Values.otlpEndpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- if .Values.extraCA.configMap }}
- name: SSL_CERT_FILE
  value: /etc/cde-spark-provisioner/ca/{{ .Values.extraCA.key }}
{{- end }}
{{- end }}

{{/*
Volumes of both processes: the extra CA, and the Temporal connection's files (client
certificate and key, server CA, profile file), each a whole Secret or ConfigMap mounted as a
directory, never through subPath, so that a renewed certificate reaches the running pod.
*/}}
{{- define "csp.commonVolumes" -}}
{{- if .Values.extraCA.configMap }}
- name: extra-ca
  configMap:
    name: {{ .Values.extraCA.configMap }}
    items:
      - key: {{ .Values.extraCA.key }}
        path: {{ .Values.extraCA.key }}
{{- end }}
{{- $t := .Values.temporal }}
{{- if $t.tls.enabled }}
{{- with $t.tls.existingSecret }}
- name: temporal-client-cert
  secret:
    secretName: {{ . }}
    items:
      - {key: {{ $t.tls.certKey }}, path: {{ $t.tls.certKey }}}
      - {key: {{ $t.tls.keyKey }}, path: {{ $t.tls.keyKey }}}
{{- end }}
{{- with $t.tls.serverCASecret }}
- name: temporal-server-ca
  secret:
    secretName: {{ . }}
    items:
      - {key: {{ $t.tls.serverCAKey }}, path: {{ $t.tls.serverCAKey }}}
{{- end }}
{{- end }}
{{- with $t.configFile.existingSecret }}
- name: temporal-config
  secret:
    secretName: {{ . }}
    items:
      - {key: {{ $t.configFile.key }}, path: {{ $t.configFile.key }}}
{{- end }}
{{- with $t.configFile.configMap }}
- name: temporal-config
  configMap:
    name: {{ . }}
    items:
      - {key: {{ $t.configFile.key }}, path: {{ $t.configFile.key }}}
{{- end }}
{{- end }}

{{- define "csp.commonMounts" -}}
{{- if .Values.extraCA.configMap }}
- name: extra-ca
  mountPath: /etc/cde-spark-provisioner/ca
  readOnly: true
{{- end }}
{{- $t := .Values.temporal }}
{{- if and $t.tls.enabled $t.tls.existingSecret }}
- name: temporal-client-cert
  mountPath: /etc/cde-spark-provisioner/temporal/client
  readOnly: true
{{- end }}
{{- if and $t.tls.enabled $t.tls.serverCASecret }}
- name: temporal-server-ca
  mountPath: /etc/cde-spark-provisioner/temporal/server-ca
  readOnly: true
{{- end }}
{{- if or $t.configFile.existingSecret $t.configFile.configMap }}
- name: temporal-config
  mountPath: /etc/cde-spark-provisioner/temporal/config
  readOnly: true
{{- end }}
{{- end }}

{{/* The api's volumes: the extra CA, and the access-control files (whole Secret and ConfigMap
mounts, never subPath, so that rotations reach the running pod). */}}
{{- define "csp.apiVolumes" -}}
{{- include "csp.commonVolumes" . }}
{{- with .Values.api.auth.tokenSecret }}
- name: auth-token
  secret:
    secretName: {{ . }}
    items:
      - key: {{ $.Values.api.auth.tokenKey }}
        path: {{ $.Values.api.auth.tokenKey }}
{{- end }}
{{- with .Values.api.tls.existingSecret }}
- name: tls
  secret:
    secretName: {{ . }}
    items:
      - {key: tls.crt, path: tls.crt}
      - {key: tls.key, path: tls.key}
{{- end }}
{{- with .Values.api.tls.clientCAConfigMap }}
- name: client-ca
  configMap:
    name: {{ . }}
    items:
      - key: {{ $.Values.api.tls.clientCAKey }}
        path: {{ $.Values.api.tls.clientCAKey }}
{{- end }}
{{- end }}

{{- define "csp.apiMounts" -}}
{{- include "csp.commonMounts" . }}
{{- if .Values.api.auth.tokenSecret }}
- name: auth-token
  mountPath: /etc/cde-spark-provisioner/auth
  readOnly: true
{{- end }}
{{- if .Values.api.tls.existingSecret }}
- name: tls
  mountPath: /etc/cde-spark-provisioner/tls
  readOnly: true
{{- end }}
{{- if .Values.api.tls.clientCAConfigMap }}
- name: client-ca
  mountPath: /etc/cde-spark-provisioner/client-ca
  readOnly: true
{{- end }}
{{- end }}

{{/* An env var from a key of a Secret. */}}
{{- define "csp.secretEnv" -}}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secret }}
      key: {{ .key }}
      {{- if .optional }}
      optional: true
      {{- end }}
{{- end }}

{{/* A list value, or a comma-separated string, as one comma-separated string. */}}
{{- define "csp.commaList" -}}
{{- if kindIs "slice" . }}{{ join "," . }}{{ else }}{{ . | default "" }}{{ end }}
{{- end }}

{{/*
Checks of the api's access control: an API that would answer anyone on the network is refused
unless api.auth.disabled says so, and settings the API would refuse at start-up (or that
would be ignored) fail the install rather than the pods.
*/}}
{{- define "csp.accessChecks" -}}
{{- $a := .Values.api.auth }}
{{- $t := .Values.api.tls }}
{{- if and $t.clientCAConfigMap (not $t.existingSecret) }}
{{- fail "api.tls.clientCAConfigMap (mutual TLS) needs api.tls.existingSecret: client certificates are only presented over HTTPS" }}
{{- end }}
{{- if and (include "csp.commaList" $t.clientAllowedNames) (not $t.clientCAConfigMap) }}
{{- fail "api.tls.clientAllowedNames pins the identity of client certificates: it needs api.tls.clientCAConfigMap (mutual TLS)" }}
{{- end }}
{{- if $a.disabled }}
{{- if or $a.tokenSecret $t.clientCAConfigMap }}
{{- fail (printf "api.auth.disabled=true, yet access control is configured (api.auth.tokenSecret=%q, api.tls.clientCAConfigMap=%q): leave both empty to run the API open, or drop api.auth.disabled" ($a.tokenSecret | default "") ($t.clientCAConfigMap | default "")) }}
{{- end }}
{{- else if not (or $a.tokenSecret $t.clientCAConfigMap) }}
{{- fail "the API would answer anyone on the network: set api.auth.tokenSecret (a Secret holding the bearer token the Coordinator sends), or api.tls.existingSecret with api.tls.clientCAConfigMap (mutual TLS), or both; or set api.auth.disabled=true to run it without access control on purpose" }}
{{- end }}
{{- end }}
