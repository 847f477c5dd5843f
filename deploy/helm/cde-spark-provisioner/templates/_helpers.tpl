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

{{/* Environment shared by the api and the worker. */}}
{{- define "csp.commonEnv" -}}
- name: TEMPORAL_ADDRESS
  value: {{ required "temporal.address is required" .Values.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
- name: TEMPORAL_TASK_QUEUE
  value: {{ .Values.temporal.taskQueue | quote }}
- name: TEMPORAL_SEARCH_ATTRIBUTES
  value: {{ .Values.temporal.searchAttributes | quote }}
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

{{/* The extra CA volume and its mount, when extraCA.configMap is set. */}}
{{- define "csp.caVolume" -}}
{{- if .Values.extraCA.configMap }}
- name: extra-ca
  configMap:
    name: {{ .Values.extraCA.configMap }}
    items:
      - key: {{ .Values.extraCA.key }}
        path: {{ .Values.extraCA.key }}
{{- end }}
{{- end }}

{{- define "csp.caMount" -}}
{{- if .Values.extraCA.configMap }}
- name: extra-ca
  mountPath: /etc/cde-spark-provisioner/ca
  readOnly: true
{{- end }}
{{- end }}

{{/* The api's volumes: the extra CA, and the access-control files (whole Secret and ConfigMap
mounts, never subPath, so that rotations reach the running pod). */}}
{{- define "csp.apiVolumes" -}}
{{- include "csp.caVolume" . }}
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
{{- include "csp.caMount" . }}
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
