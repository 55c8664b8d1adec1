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

{{/*
The Headscale version the config is rendered for: image.tag when it reads as a version
(0.29.3, v0.26.1), else the chart's appVersion (a digest or custom tag).
*/}}
{{- define "headscale.version" -}}
{{- $tag := .Values.image.tag | toString | trimPrefix "v" -}}
{{- if regexMatch "^[0-9]+\\.[0-9]+(\\.[0-9]+)?([-+].*)?$" $tag }}{{ $tag }}{{ else }}{{ .Chart.AppVersion }}{{ end -}}
{{- end -}}

{{/* "true" when the deployed Headscale is at least .min. (dict "root" $ "min" "0.29.0") */}}
{{- define "headscale.atLeast" -}}
{{- if semverCompare (printf ">=%s-0" .min) (include "headscale.version" .root) }}true{{ end -}}
{{- end -}}

{{/* Seconds in a Go duration such as 30m, 1h30m, 90s. Fails on anything else. */}}
{{- define "headscale.durationSeconds" -}}
{{- $d := .value | toString -}}
{{- if not (regexMatch "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$" $d) -}}
  {{- fail (printf "%s %q is not a duration: write it with a unit, e.g. 30m, 120s or 1h (a bare number would be read as nanoseconds)" .name $d) -}}
{{- end -}}
{{- $unit := dict "ns" 0.000000001 "us" 0.000001 "µs" 0.000001 "ms" 0.001 "s" 1.0 "m" 60.0 "h" 3600.0 -}}
{{- $total := 0.0 -}}
{{- range $part := regexFindAll "[0-9.]+[^0-9.]+" $d -1 -}}
  {{- $n := regexFind "^[0-9.]+" $part -}}
  {{- $total = addf $total (mulf (float64 $n) (get $unit (trimPrefix $n $part))) -}}
{{- end -}}
{{- $total -}}
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
{{- range $key, $_ := .Values.podLabels | default dict -}}
  {{- if hasKey (fromYaml (include "headscale.labels" $)) $key -}}
    {{- fail (printf "podLabels sets %q, a label the chart sets itself (and partly selects the pod by): choose another label name" $key) -}}
  {{- end -}}
{{- end -}}
{{- $version := include "headscale.version" . -}}
{{- $timeout := include "headscale.durationSeconds" (dict "name" "headscale.ephemeralNodeInactivityTimeout" "value" $h.ephemeralNodeInactivityTimeout) -}}
{{- if le (float64 $timeout) 65.0 -}}
  {{- fail (printf "headscale.ephemeralNodeInactivityTimeout %q must be more than 65s: Headscale %s refuses to start otherwise" ($h.ephemeralNodeInactivityTimeout | toString) $version) -}}
{{- end -}}
{{- if and (include "headscale.atLeast" (dict "root" . "min" "0.26.0")) $h.dns.overrideLocalDns (empty $h.dns.nameservers.global) -}}
  {{- fail (printf "headscale.dns.overrideLocalDns is true but headscale.dns.nameservers.global is empty: Headscale %s refuses to start (the clients would have no DNS server). List resolvers (e.g. 1.1.1.1), or set overrideLocalDns: false" $version) -}}
{{- end -}}
{{- $extra := $h.extraConfig | default dict -}}
{{- range $old := list "dns_config" "ip_prefixes" "db_type" "db_path" "acl_policy_path" -}}
  {{- if hasKey $extra $old -}}
    {{- fail (printf "headscale.extraConfig.%s is a pre-0.23 key that Headscale %s refuses: use the chart's values (headscale.dns, headscale.prefixes, persistence, headscale.policy)" $old $version) -}}
  {{- end -}}
{{- end -}}
{{- if and (hasKey ($extra.oidc | default dict) "expiry") (hasKey ($extra.node | default dict) "expiry") -}}
  {{- fail "headscale.extraConfig sets both oidc.expiry and node.expiry: set one (the chart writes the key the deployed version reads: node.expiry from 0.29, oidc.expiry before)" -}}
{{- end -}}
{{- if and (include "headscale.atLeast" (dict "root" . "min" "0.25.0")) (hasKey ($extra.dns | default dict) "use_username_in_magic_dns") -}}
  {{- fail (printf "headscale.extraConfig.dns.use_username_in_magic_dns was removed in Headscale 0.25 (it refuses to start with it; %s deployed): remove it" $version) -}}
{{- end -}}
{{- if include "headscale.atLeast" (dict "root" . "min" "0.29.0") -}}
  {{- if and (hasKey $extra "randomize_client_port") (get $extra "randomize_client_port") -}}
    {{- fail (printf "headscale.extraConfig.randomize_client_port was removed in Headscale 0.29 (it refuses to start with it; %s deployed): set randomizeClientPort in the policy's nodeAttrs instead" $version) -}}
  {{- end -}}
  {{- if hasKey $extra "ephemeral_node_inactivity_timeout" -}}
    {{- fail "headscale.extraConfig.ephemeral_node_inactivity_timeout: set headscale.ephemeralNodeInactivityTimeout instead (the chart writes the key the deployed version reads)" -}}
  {{- end -}}
{{- end -}}
{{- if .Values.service.exposeMetrics -}}
  {{- $host := trimSuffix (printf ":%s" (include "headscale.port" (dict "addr" $h.metricsListenAddr))) $h.metricsListenAddr | trimAll "[]" -}}
  {{- if or (eq $host "localhost") (hasPrefix "127." $host) (eq $host "::1") -}}
    {{- fail (printf "service.exposeMetrics is true but headscale.metricsListenAddr %q listens on loopback only: set it to 0.0.0.0:9090 as well" $h.metricsListenAddr) -}}
  {{- end -}}
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
