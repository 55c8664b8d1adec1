{{/*
Names. These mirror src/names.ts (test/charts/names.test.ts renders the chart and fails
if they drift apart). Each takes the short service name, e.g. "orchestrator".
*/}}
{{- define "june.workloadName" -}}june-{{ . }}{{- end -}}
{{- define "june.tailnetHostname" -}}{{ include "june.workloadName" . }}{{- end -}}
{{- define "june.stateSecretName" -}}{{ include "june.workloadName" . }}-tailscale-state{{- end -}}
{{- define "june.sidecarServiceAccount" -}}{{ include "june.workloadName" . }}-tailscale{{- end -}}

{{/* Selector labels: immutable on a Deployment, so never sidecar-dependent. (dict "root" $ "svc" $svc) */}}
{{- define "june.selectorLabels" -}}
app.kubernetes.io/name: {{ include "june.workloadName" .svc }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* Common labels. (dict "root" $ "svc" $svc) */}}
{{- define "june.labels" -}}
{{ include "june.selectorLabels" . }}
app.kubernetes.io/component: {{ .svc }}
app.kubernetes.io/part-of: june-platform
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/*
A service's pod settings: services.<svc>.<key> over serviceDefaults.<key>. Maps are merged
one level deep (the service's top-level keys win, so `runAsNonRoot: false` overrides a
default true); lists and strings replace the default when the service sets them.
Returns YAML; use with fromYaml. (dict "root" $ "svc" $svc "cfg" $cfg)
*/}}
{{- define "june.podSettings" -}}
{{- $defaults := .root.Values.serviceDefaults | default dict -}}
{{- $cfg := .cfg -}}
{{- $out := dict -}}
{{- range $key := list "podSecurityContext" "securityContext" "nodeSelector" "affinity" "podAnnotations" "podLabels" -}}
  {{- $merged := deepCopy (get $defaults $key | default dict) -}}
  {{- range $k, $v := (get $cfg $key | default dict) -}}
    {{- $_ := set $merged $k $v -}}
  {{- end -}}
  {{- $_ := set $out $key $merged -}}
{{- end -}}
{{- range $key := list "tolerations" "imagePullSecrets" "topologySpreadConstraints" "extraVolumes" "extraVolumeMounts" "priorityClassName" "automountServiceAccountToken" -}}
  {{- $_ := set $out $key (hasKey $cfg $key | ternary (get $cfg $key) (get $defaults $key)) -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
True when the sidecar runs as a native sidecar (an init container with restartPolicy:
Always): tailscale.nativeSidecar true, or "auto" on Kubernetes 1.33+, where the feature is
GA and every kubelet within the supported version skew (1.30+) runs it. 1.29-1.32 have it
on by default but it can be switched off, and an older kubelet would run the sidecar as a
plain init container that never ends: set true there explicitly.
*/}}
{{- define "june.tailscale.native" -}}
{{- $n := .Values.tailscale.nativeSidecar -}}
{{- if eq (toString $n) "auto" -}}
  {{- if semverCompare ">=1.33.0-0" .Capabilities.KubeVersion.Version }}true{{ end -}}
{{- else if $n }}true{{ end -}}
{{- end -}}

{{/* True when sidecars keep their node state in a Secret (TS_KUBE_SECRET). */}}
{{- define "june.tailscale.persist" -}}
{{- if and .Values.tailscale.enabled .Values.tailscale.state.persist }}true{{ end -}}
{{- end -}}

{{/*
Render-time checks with wording a person can act on. values.schema.json rejects the
structurally wrong; these catch what needs several values at once.
*/}}
{{- define "june.validate" -}}
{{- $ts := .Values.tailscale -}}
{{- range $svc, $cfg := .Values.services -}}
  {{- if $cfg.enabled -}}
    {{- range $probe := list "readinessProbe" "livenessProbe" -}}
      {{- $handlers := list -}}
      {{- range $h := list "httpGet" "tcpSocket" "exec" "grpc" -}}
        {{- if hasKey (get $cfg $probe | default dict) $h }}{{ $handlers = append $handlers $h }}{{ end -}}
      {{- end -}}
      {{- if gt (len $handlers) 1 -}}
        {{- fail (printf "services.%s.%s has %s, and a probe takes one: Helm merges a probe you set into the chart's default one. Set the handler you do not want to null (services.%s.%s.<handler>=null), or the whole probe to null to have none" $svc $probe (join " and " $handlers) $svc $probe) -}}
      {{- end -}}
    {{- end -}}
  {{- end -}}
{{- end -}}
{{- if $ts.enabled -}}
  {{- if not $ts.controlUrl -}}
    {{- fail "tailscale.enabled is true but tailscale.controlUrl is empty: set it to your Headscale URL, e.g. --set tailscale.controlUrl=https://headscale.ozzu.world" -}}
  {{- end -}}
  {{- if not (regexMatch "^https?://[^/\\s]+" $ts.controlUrl) -}}
    {{- fail (printf "tailscale.controlUrl %q is not a URL: it must start with http:// or https:// (e.g. https://headscale.ozzu.world)" $ts.controlUrl) -}}
  {{- end -}}
  {{- if not $ts.authSecretName -}}
    {{- fail "tailscale.enabled is true but tailscale.authSecretName is empty: name the Secret holding the pre-auth keys (default headscale-auth-keys)" -}}
  {{- end -}}
  {{- if and (not $ts.userspace) (not $ts.allowKernelMode) -}}
    {{- fail "tailscale.userspace is false (kernel networking): the tailscale container then runs as root with NET_ADMIN and NET_RAW, which Pod Security \"restricted\" and \"baseline\" refuse. Keep tailscale.userspace=true (works under \"restricted\"), or set tailscale.allowKernelMode=true to confirm the namespace admits privileged pods" -}}
  {{- end -}}
  {{- range $arg := $ts.extraArgs -}}
    {{- if regexMatch "^--?auth-?key" $arg -}}
      {{- fail "tailscale.extraArgs must not carry an auth key (it would be stored in plain text in the Deployment): keys are read from the Secret named by tailscale.authSecretName" -}}
    {{- end -}}
    {{- if regexMatch "^--?login-server" $arg -}}
      {{- fail "tailscale.extraArgs must not set --login-server: set tailscale.controlUrl instead" -}}
    {{- end -}}
  {{- end -}}
  {{- $sidecarPorts := dict "tailscale.healthCheck.port" (int $ts.healthCheck.port) -}}
  {{- if $ts.proxy.enabled -}}
    {{- $socks := int $ts.proxy.socks5Port -}}
    {{- $http := int $ts.proxy.httpPort -}}
    {{- range $name, $port := dict "tailscale.proxy.socks5Port" $socks "tailscale.proxy.httpPort" $http -}}
      {{- if eq $port (int $ts.healthCheck.port) -}}
        {{- fail (printf "%s and tailscale.healthCheck.port are both port %d: the sidecar cannot listen on one port twice. Choose another %s" $name $port $name) -}}
      {{- end -}}
    {{- end -}}
    {{- if eq $socks $http -}}
      {{- fail (printf "tailscale.proxy.socks5Port and tailscale.proxy.httpPort are both port %d: choose two different ports" $socks) -}}
    {{- end -}}
    {{- $_ := set $sidecarPorts "tailscale.proxy.socks5Port" $socks -}}
    {{- $_ := set $sidecarPorts "tailscale.proxy.httpPort" $http -}}
  {{- end -}}
  {{- range $svc, $cfg := $.Values.services -}}
    {{- if $cfg.enabled -}}
      {{- $ref := index ($ts.authKeyRefs | default dict) $svc -}}
      {{- if not $ref -}}
        {{- fail (printf "june-%s: tailscale.enabled is true but tailscale.authKeyRefs.%s is not set: add the key name inside Secret %s that holds this service's pre-auth key, e.g. --set tailscale.authKeyRefs.%s=june-%s-authkey" $svc $svc $ts.authSecretName $svc $svc) -}}
      {{- end -}}
      {{- if regexMatch "^(tskey|hskey)-" $ref -}}
        {{- fail (printf "tailscale.authKeyRefs.%s looks like an auth key itself: it must be the NAME of a key inside Secret %s (e.g. june-%s-authkey), never the key" $svc $ts.authSecretName $svc) -}}
      {{- end -}}
      {{- /* The sidecar shares the pod's network: its ports must not be the app's. */ -}}
      {{- $appPorts := dict (toString (int $cfg.port)) (printf "services.%s.port" $svc) -}}
      {{- range $i, $p := $cfg.extraPorts -}}
        {{- $_ := set $appPorts (toString (int $p.containerPort)) (printf "services.%s.extraPorts[%d]" $svc $i) -}}
      {{- end -}}
      {{- range $probe := list "readinessProbe" "livenessProbe" -}}
        {{- range $h := list "httpGet" "tcpSocket" "grpc" -}}
          {{- $p := dig $probe $h "port" "" $cfg -}}
          {{- if kindIs "float64" $p }}{{ $_ := set $appPorts (toString (int $p)) (printf "services.%s.%s.%s.port" $svc $probe $h) }}{{ end -}}
          {{- if kindIs "int64" $p }}{{ $_ := set $appPorts (toString $p) (printf "services.%s.%s.%s.port" $svc $probe $h) }}{{ end -}}
        {{- end -}}
      {{- end -}}
      {{- range $name, $port := $sidecarPorts -}}
        {{- $clash := get $appPorts (toString $port) -}}
        {{- if $clash -}}
          {{- fail (printf "june-%s: %s and %s are both port %d: the tailscale sidecar shares the pod's network with the app, so one of them could not listen. Choose another %s" $svc $name $clash (int $port) $name) -}}
        {{- end -}}
      {{- end -}}
      {{- if and $ts.state.persist (gt (int $cfg.replicas) 1) -}}
        {{- fail (printf "june-%s: replicas > 1 would share one Tailscale state Secret (june-%s-tailscale-state): the pods would be one node with a cloned machine key. Set services.%s.replicas: 1, or tailscale.state.persist: false (every pod start then registers a fresh, unpersisted node), or tailscale.enabled: false" $svc $svc $svc) -}}
      {{- end -}}
    {{- end -}}
  {{- end -}}
{{- end -}}
{{- end -}}

{{/*
The Tailscale sidecar container, the same for every service.
Usage: {{ include "june.tailscale.sidecar" (dict "root" $ "svc" "orchestrator") }}
*/}}
{{- define "june.tailscale.sidecar" -}}
{{- $ts := .root.Values.tailscale -}}
{{- $svc := .svc -}}
{{- $extraArgs := prepend ($ts.extraArgs | default list) (printf "--login-server=%s" $ts.controlUrl) -}}
{{- $native := include "june.tailscale.native" .root }}
- name: tailscale
  image: {{ $ts.image | quote }}
  imagePullPolicy: {{ $ts.imagePullPolicy }}
  {{- if $native }}
  # Native sidecar: started before the app containers, stopped after them.
  restartPolicy: Always
  {{- end }}
  env:
    - name: TS_AUTHKEY
      valueFrom:
        secretKeyRef:
          name: {{ $ts.authSecretName | quote }}
          key: {{ index $ts.authKeyRefs $svc | quote }}
    - name: TS_HOSTNAME
      value: {{ include "june.tailnetHostname" $svc | quote }}
    - name: TS_EXTRA_ARGS
      value: {{ join " " $extraArgs | quote }}
    - name: TS_USERSPACE
      value: {{ $ts.userspace | toString | quote }}
    - name: TS_KUBE_SECRET
      value: {{ if $ts.state.persist }}{{ include "june.stateSecretName" $svc | quote }}{{ else }}""{{ end }}
    - name: TS_AUTH_ONCE
      value: {{ $ts.authOnce | toString | quote }}
    - name: TS_ACCEPT_DNS
      value: {{ $ts.acceptDns | toString | quote }}
    {{- if not $ts.logUpload }}
    - name: TS_NO_LOGS_NO_SUPPORT
      value: "true"
    {{- end }}
    - name: TS_ENABLE_HEALTH_CHECK
      value: "true"
    - name: TS_LOCAL_ADDR_PORT
      value: {{ printf "[::]:%d" (int $ts.healthCheck.port) | quote }}
    {{- if $ts.proxy.enabled }}
    - name: TS_SOCKS5_SERVER
      value: {{ printf "localhost:%d" (int $ts.proxy.socks5Port) | quote }}
    - name: TS_OUTBOUND_HTTP_PROXY_LISTEN
      value: {{ printf "localhost:%d" (int $ts.proxy.httpPort) | quote }}
    {{- end }}
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: POD_UID
      valueFrom:
        fieldRef:
          fieldPath: metadata.uid
    {{- with $ts.extraEnv }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    - name: ts-health
      containerPort: {{ $ts.healthCheck.port }}
      protocol: TCP
  {{- if $native }}
  # The app containers start only once this succeeds: the node has a tailnet IP.
  startupProbe:
    httpGet:
      path: /healthz
      port: ts-health
    periodSeconds: 2
    failureThreshold: {{ $ts.healthCheck.startupFailureThreshold }}
  {{- end }}
  {{- if $ts.healthCheck.readinessProbe }}
  readinessProbe:
    httpGet:
      path: /healthz
      port: ts-health
    initialDelaySeconds: 2
    periodSeconds: 5
    failureThreshold: 3
  {{- end }}
  {{- with $ts.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
  {{- if $ts.userspace }}
    runAsNonRoot: true
    runAsUser: 1000
    runAsGroup: 1000
    allowPrivilegeEscalation: false
    readOnlyRootFilesystem: true
    capabilities:
      drop: ["ALL"]
    seccompProfile:
      type: RuntimeDefault
  {{- else }}
    # Kernel networking needs root, NET_ADMIN and /dev/net/tun (set userspace: true to
    # avoid): only a namespace at Pod Security "privileged" admits it (tailscale.allowKernelMode).
    runAsNonRoot: false
    runAsUser: 0
    allowPrivilegeEscalation: false
    capabilities:
      add: ["NET_ADMIN", "NET_RAW"]
  {{- end }}
  volumeMounts:
    # tailscaled socket and statedir (containerboot uses /tmp); the root filesystem is read-only.
    - name: tailscale-tmp
      mountPath: /tmp
    # Only this container gets the ServiceAccount token (the pod's automount is off).
    - name: tailscale-serviceaccount
      mountPath: /var/run/secrets/kubernetes.io/serviceaccount
      readOnly: true
{{- end -}}

{{/*
The sidecar's volumes. The projected token volume is what the kubelet would mount into
every container with automountServiceAccountToken; expirationSeconds 3607 is the
kubelet's own value, which the API server recognises to keep legacy clients working
(containerboot re-reads the token only every 30 minutes).
*/}}
{{- define "june.tailscale.volumes" -}}
- name: tailscale-tmp
  emptyDir:
    medium: Memory
    sizeLimit: 64Mi
- name: tailscale-serviceaccount
  projected:
    sources:
      - serviceAccountToken:
          path: token
          expirationSeconds: 3607
      - configMap:
          name: kube-root-ca.crt
          items:
            - key: ca.crt
              path: ca.crt
      - downwardAPI:
          items:
            - path: namespace
              fieldRef:
                apiVersion: v1
                fieldPath: metadata.namespace
{{- end -}}

{{/* Env the app container gets to dial into the tailnet through the sidecar's proxy. */}}
{{- define "june.tailscale.appProxyEnv" -}}
{{- $p := .Values.tailscale.proxy -}}
- name: ALL_PROXY
  value: {{ printf "socks5h://localhost:%d" (int $p.socks5Port) | quote }}
- name: HTTP_PROXY
  value: {{ printf "http://localhost:%d" (int $p.httpPort) | quote }}
- name: HTTPS_PROXY
  value: {{ printf "http://localhost:%d" (int $p.httpPort) | quote }}
- name: NO_PROXY
  value: {{ $p.noProxy | quote }}
{{- end -}}
