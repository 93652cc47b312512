{{- define "ingestfleet.fullname" -}}
{{- printf "%s" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "ingestfleet.labels" -}}
app.kubernetes.io/name: ingestfleet
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "ingestfleet.tag" -}}
{{- default .Chart.AppVersion .Values.image.tag -}}
{{- end -}}

{{/* Pod termination grace: the drain budget plus a margin, so in-flight batches finish before SIGKILL. */}}
{{- define "ingestfleet.grace" -}}
{{- add .Values.drainBudgetSeconds .Values.terminationGraceExtraSeconds -}}
{{- end -}}

{{/* Broker credentials, from the Secret named in values (every pod). */}}
{{- define "ingestfleet.brokerEnv" -}}
- name: IngestFleet__RabbitMq__Uri
  valueFrom: { secretKeyRef: { name: {{ .Values.broker.existingSecret }}, key: uri } }
- name: IngestFleet__RabbitMq__ManagementUri
  valueFrom: { secretKeyRef: { name: {{ .Values.broker.existingSecret }}, key: managementUri } }
{{- end -}}

{{/* The broker's CA and client certificate (broker.tls.existingSecret), in every pod that connects to the broker. */}}
{{- define "ingestfleet.brokerTlsMount" -}}
{{- if .Values.broker.tls.existingSecret }}
- name: broker-tls
  mountPath: /etc/ingestfleet/broker-tls
  readOnly: true
{{- end }}
{{- end -}}
{{- define "ingestfleet.brokerTlsVolume" -}}
{{- if .Values.broker.tls.existingSecret }}
- name: broker-tls
  secret:
    secretName: {{ .Values.broker.tls.existingSecret }}
{{- end }}
{{- end -}}

{{/* S3 credentials (workers only: the gateway never reads or writes S3). */}}
{{- define "ingestfleet.s3Env" -}}
{{- if .Values.s3.existingSecret }}
- name: IngestFleet__S3__AccessKey
  valueFrom: { secretKeyRef: { name: {{ .Values.s3.existingSecret }}, key: accessKey } }
- name: IngestFleet__S3__SecretKey
  valueFrom: { secretKeyRef: { name: {{ .Values.s3.existingSecret }}, key: secretKey } }
{{- end }}
{{- end -}}

{{/* The pod-level security context of the "restricted" Pod Security Standard: a numeric non-root user (the .NET
     images' APP_UID, 1654, which the CUDA image creates too), the runtime's default seccomp profile. */}}
{{- define "ingestfleet.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .Values.securityContext.runAsUser }}
runAsGroup: {{ .Values.securityContext.runAsGroup }}
fsGroup: {{ .Values.securityContext.runAsGroup }}
seccompProfile: { type: RuntimeDefault }
{{- end -}}

{{/* The container-level half: no privilege escalation, every capability dropped, a read-only root file system
     (scratch space is the emptyDir mounted at /tmp). */}}
{{- define "ingestfleet.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities: { drop: [ALL] }
{{- end -}}
