{{/* Fixed names: june-ts and the docs address these directly (src/names.ts). */}}
{{- define "headscale.deploymentName" -}}headscale{{- end -}}
{{- define "headscale.configMapName" -}}headscale-config{{- end -}}

{{- define "headscale.selectorLabels" -}}
app.kubernetes.io/name: headscale
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "headscale.labels" -}}
{{ include "headscale.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* The server_url clients use: serverUrl, else https://<domain>. */}}
{{- define "headscale.serverUrl" -}}
{{- .Values.headscale.serverUrl | default (printf "https://%s" .Values.headscale.domain) -}}
{{- end -}}

{{- define "headscale.claimName" -}}
{{- .Values.persistence.existingClaim | default "headscale-data" -}}
{{- end -}}

{{/* Paths inside the pod. */}}
{{- define "headscale.dataDir" -}}/var/lib/headscale{{- end -}}
{{- define "headscale.policyFile" -}}/etc/headscale/policy.hujson{{- end -}}

{{/* Render-time checks, with messages that say what to change. */}}
{{- define "headscale.validate" -}}
{{- $h := .Values.headscale -}}
{{- $url := include "headscale.serverUrl" . -}}
{{- if not (regexMatch "^https?://[^/\\s]+" $url) -}}
  {{- fail (printf "headscale server_url %q must start with http:// or https:// (set headscale.domain, or headscale.serverUrl)" $url) -}}
{{- end -}}
{{- $host := (urlParse $url).hostname | lower -}}
{{- $base := $h.dns.baseDomain | lower | trimSuffix "." -}}
{{- if and $h.dns.magicDns (not $base) -}}
  {{- fail "headscale.dns.magicDns is true but headscale.dns.baseDomain is empty: set a MagicDNS domain such as tail.ozzu.world" -}}
{{- end -}}
{{- if $base -}}
  {{- if or (eq $host $base) (hasSuffix (printf ".%s" $base) $host) -}}
    {{- fail (printf "headscale.dns.baseDomain %q must neither equal nor contain the server_url host %q: MagicDNS would take over that name and clients could no longer reach Headscale. Use a separate domain such as tail.ozzu.world" $base $host) -}}
  {{- end -}}
{{- end -}}
{{- if not (or $h.derp.server.enabled $h.derp.urls $h.derp.paths) -}}
  {{- fail "headscale.derp: no DERP source (derp.server.enabled is false and derp.urls and derp.paths are empty): Headscale refuses to start with an empty DERP map. Enable the embedded server or list a DERP map URL" -}}
{{- end -}}
{{- if and $h.policy.inline $h.policy.path -}}
  {{- fail "headscale.policy: set either inline or path, not both" -}}
{{- end -}}
{{- end -}}

{{/* Port number of a host:port listen address. (dict "addr" "0.0.0.0:8080") */}}
{{- define "headscale.port" -}}
{{- $parts := splitList ":" .addr -}}
{{- $port := last $parts -}}
{{- if not (regexMatch "^[0-9]+$" $port) -}}
{{- fail (printf "listen address %q has no port (expected host:port, e.g. 0.0.0.0:8080)" .addr) -}}
{{- end -}}
{{- $port -}}
{{- end -}}
