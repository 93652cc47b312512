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

{{/* Broker and S3 credentials from the Secrets named in values. */}}
{{- define "ingestfleet.secretEnv" -}}
- name: IngestFleet__RabbitMq__Uri
  valueFrom: { secretKeyRef: { name: {{ .Values.broker.existingSecret }}, key: uri } }
- name: IngestFleet__RabbitMq__ManagementUri
  valueFrom: { secretKeyRef: { name: {{ .Values.broker.existingSecret }}, key: managementUri } }
{{- if .Values.s3.existingSecret }}
- name: IngestFleet__S3__AccessKey
  valueFrom: { secretKeyRef: { name: {{ .Values.s3.existingSecret }}, key: accessKey } }
- name: IngestFleet__S3__SecretKey
  valueFrom: { secretKeyRef: { name: {{ .Values.s3.existingSecret }}, key: secretKey } }
{{- end }}
{{- end -}}
