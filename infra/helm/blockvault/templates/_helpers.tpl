{{/* The release's base name: <release>-blockvault, or the release name when it already says blockvault. */}}
{{- define "blockvault.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "blockvault.secretName" -}}
{{- .Values.secrets.existingSecret | default (include "blockvault.fullname" .) -}}
{{- end -}}

{{/* Labels of every object; "component" is the service (scheduler, worker, ...). */}}
{{- define "blockvault.labels" -}}
app.kubernetes.io/name: blockvault
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: blockvault
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- with .component }}
app.kubernetes.io/component: {{ . }}
{{- end }}
{{- end -}}

{{- define "blockvault.selectorLabels" -}}
app.kubernetes.io/name: blockvault
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "blockvault.image" -}}
{{- printf "%s/%s:%s" .root.Values.image.repository .component (.root.Values.image.tag | default .root.Chart.AppVersion) -}}
{{- end -}}

{{/* gRPC port of each service: the same defaults as `blockvault serve` and the images. */}}
{{- define "blockvault.grpcPort" -}}
{{- get (dict "scheduler" 7070 "blob-store" 7071 "reader" 7072 "metadata" 7073) . -}}
{{- end -}}

{{- define "blockvault.serviceAddress" -}}
{{- printf "%s-%s:%s" (include "blockvault.fullname" .root) .component (include "blockvault.grpcPort" .component) -}}
{{- end -}}

{{/* Environment every service shares: NATS, the deployment's name, metrics, logs, transforms, TLS, tokens, traces. */}}
{{- define "blockvault.commonEnv" -}}
{{- $v := .root.Values -}}
- name: BLOCKVAULT_HOME
  value: /data
- name: BLOCKVAULT_NATS_URL
  value: {{ $v.nats.url | quote }}
- name: BLOCKVAULT_DEPLOYMENT
  value: {{ $v.deploymentName | default .root.Release.Name | quote }}
- name: BLOCKVAULT_METRICS_LISTEN
  value: "0.0.0.0:9464"
- name: BLOCKVAULT_LOG_LEVEL
  value: {{ $v.logLevel | quote }}
- name: BLOCKVAULT_COMPRESSION
  value: {{ $v.compression | quote }}
{{- if $v.nats.creds }}
- name: BLOCKVAULT_NATS_CREDS
  value: /etc/blockvault/secrets/nats-creds
{{- end }}
{{- if $v.encryption.enabled }}
- name: BLOCKVAULT_ENCRYPTION_KEY_FILE
  value: /etc/blockvault/secrets/encryption-keys
{{- end }}
{{- if $v.auth.clusterToken }}
- name: BLOCKVAULT_CLUSTER_TOKEN_FILE
  value: /etc/blockvault/secrets/cluster-token
{{- end }}
{{- if $v.tls.enabled }}
- name: BLOCKVAULT_TLS_CA
  value: /etc/blockvault/tls/ca.crt
- name: BLOCKVAULT_TLS_CERT
  value: /etc/blockvault/tls/tls.crt
- name: BLOCKVAULT_TLS_KEY
  value: /etc/blockvault/tls/tls.key
- name: BLOCKVAULT_TLS_CLIENT_AUTH
  value: {{ $v.tls.clientAuth | quote }}
{{- end }}
{{- with $v.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- range $name, $value := $v.extraEnv }}
- name: {{ $name }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}

{{/* What the scheduler and workers need to reach the stores and sources through the services. */}}
{{- define "blockvault.throughServicesEnv" -}}
- name: BLOCKVAULT_METADATA_URL
  value: {{ include "blockvault.serviceAddress" (dict "root" .root "component" "metadata") | quote }}
- name: BLOCKVAULT_BLOBSTORE_URL
  value: {{ include "blockvault.serviceAddress" (dict "root" .root "component" "blob-store") | quote }}
- name: BLOCKVAULT_READER_URL
  value: discover
{{- end -}}

{{/* Secret files (tokens, keys, creds) and TLS, read-only, group-readable by the pod's fsGroup only. */}}
{{- define "blockvault.secretVolumes" -}}
{{- $v := .root.Values -}}
{{- $items := list -}}
{{- if $v.nats.creds }}{{ $items = append $items "nats-creds" }}{{ end -}}
{{- if $v.encryption.enabled }}{{ $items = append $items "encryption-keys" }}{{ end -}}
{{- if $v.auth.clusterToken }}{{ $items = append $items "cluster-token" }}{{ end -}}
{{- if and $v.auth.apiTokens (has .component (list "scheduler" "access")) }}{{ $items = append $items "api-tokens" }}{{ end -}}
- name: tmp
  emptyDir: {}
- name: data
  emptyDir: {}
{{- if $items }}
- name: secrets
  secret:
    secretName: {{ include "blockvault.secretName" .root }}
    defaultMode: 0440
    items:
    {{- range $items }}
      - key: {{ . }}
        path: {{ . }}
    {{- end }}
{{- end }}
{{- if $v.tls.enabled }}
- name: tls
  secret:
    secretName: {{ required "tls.existingSecret: the Secret with ca.crt, tls.crt and tls.key" $v.tls.existingSecret }}
    defaultMode: 0440
{{- end }}
{{- end -}}

{{- define "blockvault.secretMounts" -}}
{{- $v := .root.Values -}}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /data
{{- if or $v.nats.creds $v.encryption.enabled $v.auth.clusterToken (and $v.auth.apiTokens (has .component (list "scheduler" "access"))) }}
- name: secrets
  mountPath: /etc/blockvault/secrets
  readOnly: true
{{- end }}
{{- if $v.tls.enabled }}
- name: tls
  mountPath: /etc/blockvault/tls
  readOnly: true
{{- end }}
{{- end -}}

{{/*
Probes: the standard gRPC health service for a gRPC server (the kubelet's gRPC probe speaks
plaintext only, so with TLS the metrics port's /readyz and /healthz instead); a worker has no
gRPC server and is probed on its metrics port.
*/}}
{{- define "blockvault.probes" -}}
{{- $grpc := and (ne .component "worker") (ne .component "access") (not .root.Values.tls.enabled) -}}
readinessProbe:
  {{- if $grpc }}
  grpc:
    port: {{ include "blockvault.grpcPort" .component }}
  {{- else }}
  httpGet:
    path: /readyz
    port: metrics
  {{- end }}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
livenessProbe:
  {{- if $grpc }}
  grpc:
    port: {{ include "blockvault.grpcPort" .component }}
  {{- else }}
  httpGet:
    path: /healthz
    port: metrics
  {{- end }}
  initialDelaySeconds: 10
  periodSeconds: 20
  timeoutSeconds: 5
  failureThreshold: 6
{{- end -}}

{{- define "blockvault.podSpecCommon" -}}
securityContext:
  {{- toYaml .root.Values.podSecurityContext | nindent 2 }}
automountServiceAccountToken: false
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
