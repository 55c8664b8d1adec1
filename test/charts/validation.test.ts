// Values that cannot work are refused at render time, with messages a person can act on.
// Cross-field checks are template `fail`s (same wording in Helm 3 and 4); structural ones
// come from values.schema.json, whose wording differs between Helm 3 and Helm 4.
import { beforeAll, describe, expect, it } from 'vitest';
import { HEADSCALE_CHART, HELMS, PLATFORM_CHART, requireBin, shouldSkip, templateError, type RenderOptions } from './helm.js';

const ON = { 'tailscale.enabled': true, 'tailscale.controlUrl': 'https://headscale.ozzu.world' };

const platformCases: Array<[string, RenderOptions, RegExp[]]> = [
  [
    'sidecars enabled without a controlUrl',
    { set: { 'tailscale.enabled': true, 'tailscale.controlUrl': '' } },
    [/tailscale\.enabled is true but tailscale\.controlUrl is empty: set it to your Headscale URL/],
  ],
  [
    'a controlUrl that is not an http(s) URL (schema)',
    { set: { 'tailscale.controlUrl': 'headscale.ozzu.world' } },
    [
      /values don't meet the specifications of the schema/,
      /tailscale[./]controlUrl/,
      /'?headscale\.ozzu\.world'? does not match pattern|Does not match pattern/,
    ],
  ],
  [
    'a controlUrl with another scheme (schema)',
    { set: { ...ON, 'tailscale.controlUrl': 'ftp://headscale.ozzu.world' } },
    [/tailscale[./]controlUrl/, /does not match pattern/i],
  ],
  [
    'an enabled service without an authKeyRefs entry',
    { set: { ...ON, 'services.stt.enabled': true, 'tailscale.authKeyRefs.stt': null } },
    [
      /june-stt: tailscale\.enabled is true but tailscale\.authKeyRefs\.stt is not set/,
      /--set tailscale\.authKeyRefs\.stt=june-stt-authkey/,
    ],
  ],
  [
    'a new service without an authKeyRefs entry',
    { set: { ...ON, 'services.asr': { enabled: true, image: 'asr:1', port: 9000, replicas: 1 } } },
    [/june-asr: tailscale\.enabled is true but tailscale\.authKeyRefs\.asr is not set/],
  ],
  ['an empty authKeyRefs entry (schema)', { set: { ...ON, 'tailscale.authKeyRefs.idp': '' } }, [/tailscale[./]authKeyRefs[./]idp/]],
  [
    'an auth key pasted into authKeyRefs',
    { set: { ...ON, 'tailscale.authKeyRefs.orchestrator': 'hskey-auth-abc123-secretpart' } },
    [/tailscale\.authKeyRefs\.orchestrator looks like an auth key itself: it must be the NAME of a key inside Secret headscale-auth-keys/],
  ],
  [
    'an auth key in extraArgs',
    { set: { ...ON, 'tailscale.extraArgs': ['--authkey=tskey-auth-xyz'] } },
    [/tailscale\.extraArgs must not carry an auth key/],
  ],
  [
    '--login-server in extraArgs',
    { set: { ...ON, 'tailscale.extraArgs': ['--login-server=https://other'] } },
    [/tailscale\.extraArgs must not set --login-server: set tailscale\.controlUrl instead/],
  ],
  [
    'replicas > 1 with persisted sidecar state',
    { set: { ...ON, 'services.orchestrator.replicas': 2 } },
    [
      /june-orchestrator: replicas > 1 would share one Tailscale state Secret \(june-orchestrator-tailscale-state\)/,
      /Set services\.orchestrator\.replicas: 1, or tailscale\.state\.persist: false/,
    ],
  ],
  [
    'kernel mode without allowKernelMode',
    { set: { ...ON, 'tailscale.userspace': false } },
    [
      /tailscale\.userspace is false \(kernel networking\)/,
      /Pod Security "restricted" and "baseline" refuse/,
      /set tailscale\.allowKernelMode=true/,
    ],
  ],
  [
    'a pod label the chart sets itself',
    { set: { 'services.idp.podLabels': { 'app.kubernetes.io/name': 'kc' } } },
    [/services\.idp\.podLabels \(or serviceDefaults\.podLabels\) sets "app\.kubernetes\.io\/name", a label the chart sets itself/],
  ],
  [
    'a default pod label the chart sets itself',
    { set: { 'serviceDefaults.podLabels': { 'app.kubernetes.io/instance': 'x' } } },
    [/podLabels \(or serviceDefaults\.podLabels\) sets "app\.kubernetes\.io\/instance"/],
  ],
  [
    'a securityContext that is not a map (schema)',
    { set: { 'services.orchestrator.securityContext': 'restricted' } },
    [/services[./]orchestrator[./]securityContext/],
  ],
  [
    'an imagePullSecrets entry without a name (schema)',
    { set: { 'serviceDefaults.imagePullSecrets': [{}] } },
    [/serviceDefaults[./]imagePullSecrets/],
  ],
  [
    'a readiness probe merged into the default one (two handlers)',
    { set: { 'services.orchestrator.readinessProbe': { httpGet: { path: '/ready', port: 'http' } } } },
    [
      /services\.orchestrator\.readinessProbe has httpGet and tcpSocket, and a probe takes one: Helm merges a probe you set into the chart's default one/,
      /Set the handler you do not want to null \(services\.orchestrator\.readinessProbe\.<handler>=null\)/,
    ],
  ],
  [
    'the sidecar health port equal to an app port',
    { set: { ...ON, 'tailscale.healthCheck.port': 8080 } },
    [
      /june-idp: tailscale\.healthCheck\.port and services\.idp\.port are both port 8080: the tailscale sidecar shares the pod's network with the app/,
      /Choose another tailscale\.healthCheck\.port/,
    ],
  ],
  [
    "the sidecar health port equal to Keycloak's management (probe) port",
    { set: { ...ON, 'tailscale.healthCheck.port': 9000 } },
    [/june-idp: tailscale\.healthCheck\.port and services\.idp\.readinessProbe\.httpGet\.port are both port 9000/],
  ],
  [
    'a proxy port equal to the health port',
    { set: { ...ON, 'tailscale.proxy.enabled': true, 'tailscale.proxy.socks5Port': 9002 } },
    [/tailscale\.proxy\.socks5Port and tailscale\.healthCheck\.port are both port 9002: the sidecar cannot listen on one port twice/],
  ],
  [
    'the two proxy ports equal',
    { set: { ...ON, 'tailscale.proxy.enabled': true, 'tailscale.proxy.httpPort': 1055 } },
    [/tailscale\.proxy\.socks5Port and tailscale\.proxy\.httpPort are both port 1055: choose two different ports/],
  ],
  [
    'a proxy port equal to an app port',
    { set: { ...ON, 'tailscale.proxy.enabled': true, 'tailscale.proxy.httpPort': 8000, 'services.stt.enabled': true } },
    [/june-stt: tailscale\.proxy\.httpPort and services\.stt\.port are both port 8000/],
  ],
  [
    "a proxy port equal to one of the app's extra ports",
    { set: { ...ON, 'tailscale.proxy.enabled': true, 'tailscale.proxy.socks5Port': 9000, 'services.idp.readinessProbe': null } },
    [/june-idp: tailscale\.proxy\.socks5Port and services\.idp\.extraPorts\[0\] are both port 9000/],
  ],
  ['an extra port without a name (schema)', { set: { 'services.idp.extraPorts': [{ containerPort: 9001 }] } }, [/extraPorts/]],
  ['a misspelt tailscale key (schema)', { set: { ...ON, 'tailscale.controlURL': 'https://headscale.ozzu.world' } }, [/controlURL/]],
];

const headscaleCases: Array<[string, RenderOptions, RegExp[]]> = [
  [
    'dns.base_domain equal to the server_url host',
    { set: { 'headscale.dns.baseDomain': 'headscale.ozzu.world' } },
    [/headscale\.dns\.baseDomain "headscale\.ozzu\.world" must neither equal nor contain the server_url host "headscale\.ozzu\.world"/],
  ],
  [
    'dns.base_domain containing the server_url host',
    { set: { 'headscale.dns.baseDomain': 'ozzu.world' } },
    [
      /headscale\.dns\.baseDomain "ozzu\.world" must neither equal nor contain the server_url host "headscale\.ozzu\.world"/,
      /tail\.ozzu\.world/,
    ],
  ],
  [
    'dns.base_domain containing an explicit serverUrl host',
    { set: { 'headscale.serverUrl': 'https://hs.example.org:8443', 'headscale.dns.baseDomain': 'example.org' } },
    [/must neither equal nor contain the server_url host "hs\.example\.org"/],
  ],
  [
    'no DERP source',
    { set: { 'headscale.derp.urls': [], 'headscale.derp.server.enabled': false } },
    [/no DERP source .* Headscale refuses to start with an empty DERP map/],
  ],
  [
    'a serverUrl that is not an http(s) URL (schema)',
    { set: { 'headscale.serverUrl': 'headscale.ozzu.world' } },
    [/headscale[./]serverUrl/, /does not match pattern/i],
  ],
  [
    'an ephemeral inactivity timeout of 65s',
    { set: { 'headscale.ephemeralNodeInactivityTimeout': '65s' } },
    [/headscale\.ephemeralNodeInactivityTimeout "65s" must be more than 65s: Headscale 0\.29\.3 refuses to start otherwise/],
  ],
  [
    'an ephemeral inactivity timeout of 1m5s on 0.26',
    { set: { 'image.tag': '0.26.1', 'headscale.ephemeralNodeInactivityTimeout': '1m5s' } },
    [/headscale\.ephemeralNodeInactivityTimeout "1m5s" must be more than 65s: Headscale 0\.26\.1 refuses/],
  ],
  [
    'an ephemeral inactivity timeout without a unit (schema)',
    { set: { 'headscale.ephemeralNodeInactivityTimeout': '90' } },
    [/headscale[./]ephemeralNodeInactivityTimeout/],
  ],
  [
    'overrideLocalDns with no global nameservers (0.29)',
    { set: { 'headscale.dns.nameservers.global': [] } },
    [/headscale\.dns\.overrideLocalDns is true but headscale\.dns\.nameservers\.global is empty: Headscale 0\.29\.3 refuses to start/],
  ],
  [
    'overrideLocalDns with no global nameservers (0.26)',
    { set: { 'image.tag': 'v0.26.1', 'headscale.dns.nameservers.global': [] } },
    [/headscale\.dns\.nameservers\.global is empty: Headscale 0\.26\.1 refuses to start/],
  ],
  [
    'randomize_client_port in extraConfig on 0.29',
    { set: { 'headscale.extraConfig': { randomize_client_port: true } } },
    [/headscale\.extraConfig\.randomize_client_port was removed in Headscale 0\.29/],
  ],
  [
    'dns.use_username_in_magic_dns in extraConfig on 0.25',
    { set: { 'image.tag': '0.25.1', 'headscale.extraConfig': { dns: { use_username_in_magic_dns: false } } } },
    [
      /headscale\.extraConfig\.dns\.use_username_in_magic_dns was removed in Headscale 0\.25 \(it refuses to start with it; 0\.25\.1 deployed\)/,
    ],
  ],
  [
    'both spellings of the node expiry in extraConfig',
    { set: { 'image.tag': '0.26.1', 'headscale.extraConfig': { oidc: { expiry: '1d' }, node: { expiry: '2d' } } } },
    [/headscale\.extraConfig sets both oidc\.expiry and node\.expiry: set one/],
  ],
  [
    'the old ephemeral key in extraConfig on 0.29',
    { set: { 'headscale.extraConfig': { ephemeral_node_inactivity_timeout: '5m' } } },
    [/headscale\.extraConfig\.ephemeral_node_inactivity_timeout: set headscale\.ephemeralNodeInactivityTimeout instead/],
  ],
  [
    'a pre-0.23 key in extraConfig',
    { set: { 'headscale.extraConfig': { dns_config: { magic_dns: true } } } },
    [/headscale\.extraConfig\.dns_config is a pre-0\.23 key that Headscale 0\.29\.3 refuses/],
  ],
  [
    'metrics on the Service while they listen on loopback',
    { set: { 'service.exposeMetrics': true } },
    [/service\.exposeMetrics is true but headscale\.metricsListenAddr "127\.0\.0\.1:9090" listens on loopback only/],
  ],
  [
    'a pod label the headscale chart sets itself',
    { set: { podLabels: { 'app.kubernetes.io/instance': 'x' } } },
    [/podLabels sets "app\.kubernetes\.io\/instance", a label the chart sets itself/],
  ],
  [
    'MagicDNS without a base domain',
    { set: { 'headscale.dns.baseDomain': '' } },
    [/headscale\.dns\.magicDns is true but headscale\.dns\.baseDomain is empty/],
  ],
];

for (const helm of HELMS) {
  describe.skipIf(shouldSkip(helm))(`${helm.flavour}: refused values`, () => {
    beforeAll(() => {
      requireBin(helm);
    });
    describe('june-platform', () => {
      it.each(platformCases)('%s', async (_label, opts, messages) => {
        const stderr = await templateError(helm, PLATFORM_CHART, opts);
        for (const m of messages) expect(stderr).toMatch(m);
      });
    });
    describe('headscale', () => {
      it.each(headscaleCases)('%s', async (_label, opts, messages) => {
        const stderr = await templateError(helm, HEADSCALE_CHART, opts);
        for (const m of messages) expect(stderr).toMatch(m);
      });
    });
  });
}
