{{/* The name of the chart's objects: the release name, or "<release>-reflex-operator". */}}
{{- define "reflex-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels on every object: those of the kustomize base, and Helm's own. */}}
{{- define "reflex-operator.labels" -}}
app.kubernetes.io/name: reflex-operator
app.kubernetes.io/part-of: reflex-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The operator's pods. */}}
{{- define "reflex-operator.selectorLabels" -}}
app.kubernetes.io/name: reflex-operator
app.kubernetes.io/component: operator
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "reflex-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "reflex-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "reflex-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* A setting's value as the operator reads it from REFLEX_*: lists as JSON, the rest as text. */}}
{{- define "reflex-operator.settingValue" -}}
{{- if kindIs "slice" . -}}
{{- toJson . -}}
{{- else if kindIs "float64" . -}}
{{- if eq (floor .) . -}}{{- printf "%d" (int64 .) -}}{{- else -}}{{- printf "%v" . -}}{{- end -}}
{{- else -}}
{{- printf "%v" . -}}
{{- end -}}
{{- end -}}
