// The Tailscale sidecar as rendered by the one named template, for every option.
import { beforeAll, describe, expect, it } from 'vitest';
import { HELMS, PLATFORM_CHART, byName, ofKind, parseManifests, requireBin, shouldSkip, template, type Helm } from './helm.js';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}

async function pod(helm: Helm, set: Record<string, unknown> = {}, svc = 'orchestrator', kubeVersion?: string) {
  const objects = parseManifests(await template(helm, PLATFORM_CHART, { valuesFiles: ['values-headscale.yaml'], set, kubeVersion }));
  const spec = byName(objects, 'Deployment', `june-${svc}`).spec.template.spec;
  // A native sidecar is an init container, a plain one a container.
  const sidecar = [...(spec.initContainers ?? []), ...spec.containers].find((c: { name: string }) => c.name === 'tailscale');
  const app = spec.containers.find((c: { name: string }) => c.name === `june-${svc}`);
  const envOf = (c: { env?: EnvVar[] }) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? e.valueFrom]));
  return { objects, spec, sidecar, app, env: sidecar ? envOf(sidecar) : {}, appEnv: envOf(app) };
}

for (const helm of HELMS) {
  describe.skipIf(shouldSkip(helm))(`${helm.flavour}: tailscale sidecar`, () => {
    beforeAll(() => {
      requireBin(helm);
    });

    it('sets serviceAccountName explicitly in both states, so turning sidecars off leaves no stale deprecated serviceAccount', async () => {
      expect((await pod(helm)).spec.serviceAccountName).toBe('june-orchestrator-tailscale');
      expect((await pod(helm, { 'tailscale.enabled': false })).spec.serviceAccountName).toBe('default');
      expect(
        (await pod(helm, { 'tailscale.enabled': false, 'services.orchestrator.serviceAccountName': 'orch' })).spec.serviceAccountName,
      ).toBe('orch');
      expect((await pod(helm, { 'services.orchestrator.serviceAccountName': 'orch' })).spec.serviceAccountName).toBe(
        'june-orchestrator-tailscale',
      );
    });

    it('renders the documented env, in order', async () => {
      const { sidecar, env } = await pod(helm);
      expect(sidecar.env.map((e: EnvVar) => e.name)).toEqual([
        'TS_AUTHKEY',
        'TS_HOSTNAME',
        'TS_EXTRA_ARGS',
        'TS_USERSPACE',
        'TS_KUBE_SECRET',
        'TS_AUTH_ONCE',
        'TS_ACCEPT_DNS',
        'TS_NO_LOGS_NO_SUPPORT',
        'TS_ENABLE_HEALTH_CHECK',
        'TS_LOCAL_ADDR_PORT',
        'POD_NAME',
        'POD_UID',
      ]);
      expect(env).toMatchObject({
        TS_AUTHKEY: { secretKeyRef: { name: 'headscale-auth-keys', key: 'june-orchestrator-authkey' } },
        TS_HOSTNAME: 'june-orchestrator',
        TS_EXTRA_ARGS: '--login-server=https://headscale.ozzu.world',
        TS_USERSPACE: 'true',
        TS_KUBE_SECRET: 'june-orchestrator-tailscale-state',
        TS_AUTH_ONCE: 'true',
        TS_ACCEPT_DNS: 'false',
        TS_NO_LOGS_NO_SUPPORT: 'true',
        TS_ENABLE_HEALTH_CHECK: 'true',
        TS_LOCAL_ADDR_PORT: '[::]:9002',
      });
    });

    it('log upload to Tailscale is off unless tailscale.logUpload=true', async () => {
      expect((await pod(helm)).env.TS_NO_LOGS_NO_SUPPORT).toBe('true');
      const on = await pod(helm, { 'tailscale.logUpload': true });
      expect(on.env).not.toHaveProperty('TS_NO_LOGS_NO_SUPPORT');
    });

    it('appends extraArgs after --login-server and follows controlUrl/authSecretName', async () => {
      const { env } = await pod(helm, {
        'tailscale.extraArgs': ['--advertise-tags=tag:june', '--shields-up'],
        'tailscale.controlUrl': 'https://hs.example.org',
        'tailscale.authSecretName': 'my-keys',
      });
      expect(env.TS_EXTRA_ARGS).toBe('--login-server=https://hs.example.org --advertise-tags=tag:june --shields-up');
      expect(env.TS_AUTHKEY).toEqual({ secretKeyRef: { name: 'my-keys', key: 'june-orchestrator-authkey' } });
    });

    it('userspace mode runs non-root with a read-only root and an emptyDir /tmp', async () => {
      const { sidecar, spec } = await pod(helm);
      expect(sidecar.securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 1000,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      });
      expect(sidecar.volumeMounts).toContainEqual({ name: 'tailscale-tmp', mountPath: '/tmp' });
      expect(spec.volumes.find((v: { name: string }) => v.name === 'tailscale-tmp').emptyDir).toBeDefined();
      expect(sidecar.resources).toEqual({ requests: { cpu: '50m', memory: '128Mi' }, limits: { cpu: '200m', memory: '256Mi' } });
    });

    it('only the tailscale container gets the ServiceAccount token, through a projected volume', async () => {
      for (const svc of ['orchestrator', 'idp']) {
        const { spec, sidecar, objects } = await pod(helm, {}, svc);
        expect(spec.automountServiceAccountToken).toBe(false);
        expect(byName(objects, 'ServiceAccount', `june-${svc}-tailscale`).automountServiceAccountToken).toBe(false);
        const volume = spec.volumes.find((v: { name: string }) => v.name === 'tailscale-serviceaccount');
        expect(volume.projected.sources).toEqual([
          { serviceAccountToken: { path: 'token', expirationSeconds: 3607 } },
          { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
          { downwardAPI: { items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }] } },
        ]);
        expect(sidecar.volumeMounts).toContainEqual({
          name: 'tailscale-serviceaccount',
          mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
          readOnly: true,
        });
        // Every other container, whatever it is, mounts no volume with a token in it.
        const tokenVolumes = new Set(
          spec.volumes
            .filter((v: { projected?: { sources: Array<Record<string, unknown>> } }) =>
              v.projected?.sources.some((s) => 'serviceAccountToken' in s),
            )
            .map((v: { name: string }) => v.name),
        );
        for (const c of [...spec.containers, ...(spec.initContainers ?? [])].filter((c: { name: string }) => c.name !== 'tailscale')) {
          expect(
            (c.volumeMounts ?? []).filter(
              (m: { name: string; mountPath: string }) => tokenVolumes.has(m.name) || m.mountPath.startsWith('/var/run/secrets'),
            ),
          ).toEqual([]);
        }
      }
    });

    it('kernel mode (userspace: false, acknowledged) runs the sidecar as root with NET_ADMIN instead', async () => {
      const { sidecar, env } = await pod(helm, { 'tailscale.userspace': false, 'tailscale.allowKernelMode': true });
      expect(env.TS_USERSPACE).toBe('false');
      expect(sidecar.securityContext.capabilities).toEqual({ add: ['NET_ADMIN', 'NET_RAW'] });
      // Overrides the pod's runAsNonRoot default, which would keep a root container from starting.
      expect(sidecar.securityContext).toMatchObject({ runAsNonRoot: false, runAsUser: 0 });
    });

    it('native sidecar: auto on Kubernetes 1.33+, an init container with restartPolicy Always and a startup probe', async () => {
      for (const [kubeVersion, setting, native] of [
        ['1.34.0', 'auto', true],
        ['1.33.0', 'auto', true],
        ['1.32.5', 'auto', false],
        ['1.29.0', true, true],
        ['1.34.0', false, false],
      ] as const) {
        const { spec, sidecar, app } = await pod(helm, { 'tailscale.nativeSidecar': setting }, 'orchestrator', kubeVersion);
        const label = `${kubeVersion} nativeSidecar=${setting}`;
        expect(
          spec.containers.map((c: { name: string }) => c.name),
          label,
        ).toEqual(native ? ['june-orchestrator'] : ['june-orchestrator', 'tailscale']);
        expect(
          spec.initContainers?.map((c: { name: string }) => c.name),
          label,
        ).toEqual(native ? ['tailscale'] : undefined);
        expect(sidecar.restartPolicy, label).toBe(native ? 'Always' : undefined);
        if (native) {
          expect(sidecar.startupProbe).toEqual({
            httpGet: { path: '/healthz', port: 'ts-health' },
            periodSeconds: 2,
            failureThreshold: 90,
          });
        } else {
          expect(sidecar.startupProbe, label).toBeUndefined();
        }
        expect(sidecar.readinessProbe.httpGet, label).toEqual({ path: '/healthz', port: 'ts-health' });
        expect(app.readinessProbe, label).toBeDefined();
      }
      expect((await pod(helm, { 'tailscale.healthCheck.startupFailureThreshold': 30 })).sidecar.startupProbe.failureThreshold).toBe(30);
    });

    it('readiness on /healthz at the health port, switchable', async () => {
      const { sidecar } = await pod(helm);
      expect(sidecar.readinessProbe.httpGet).toEqual({ path: '/healthz', port: 'ts-health' });
      expect(sidecar.ports).toEqual([{ name: 'ts-health', containerPort: 9002, protocol: 'TCP' }]);
      const off = await pod(helm, { 'tailscale.healthCheck.readinessProbe': false });
      expect(off.sidecar.readinessProbe).toBeUndefined();
      expect(off.env.TS_ENABLE_HEALTH_CHECK).toBe('true');
    });

    it('port checks ignore the proxy ports while the proxy is off', async () => {
      const { env } = await pod(helm, { 'tailscale.proxy.socks5Port': 8080, 'tailscale.proxy.httpPort': 8080 });
      expect(env.TS_SOCKS5_SERVER).toBeUndefined();
    });

    it('proxy: sidecar listens on localhost, the app container points at it', async () => {
      const { env, appEnv } = await pod(helm, { 'tailscale.proxy.enabled': true });
      expect(env.TS_SOCKS5_SERVER).toBe('localhost:1055');
      expect(env.TS_OUTBOUND_HTTP_PROXY_LISTEN).toBe('localhost:1056');
      expect(appEnv).toMatchObject({
        ALL_PROXY: 'socks5h://localhost:1055',
        HTTP_PROXY: 'http://localhost:1056',
        HTTPS_PROXY: 'http://localhost:1056',
      });
      const none = await pod(helm);
      expect(none.env.TS_SOCKS5_SERVER).toBeUndefined();
      expect(none.appEnv.ALL_PROXY).toBeUndefined();
    });

    it('persisted state: no surge on rollout and a Role limited to the state Secret, without create', async () => {
      const { objects } = await pod(helm);
      expect(byName(objects, 'Deployment', 'june-orchestrator').spec.strategy).toEqual({
        type: 'RollingUpdate',
        rollingUpdate: { maxSurge: 0, maxUnavailable: 1 },
      });
      expect(byName(objects, 'Role', 'june-orchestrator-tailscale').rules).toEqual([
        {
          apiGroups: [''],
          resources: ['secrets'],
          resourceNames: ['june-orchestrator-tailscale-state'],
          verbs: ['get', 'update', 'patch'],
        },
        { apiGroups: [''], resources: ['events'], verbs: ['get', 'create', 'patch'] },
      ]);
    });

    it('persisted state: the chart creates each state Secret empty and keeps it on uninstall', async () => {
      const { objects } = await pod(helm, { 'services.stt.enabled': true });
      const secrets = ofKind(objects, 'Secret');
      expect(secrets.map((s) => s.metadata.name).sort()).toEqual([
        'june-idp-tailscale-state',
        'june-orchestrator-tailscale-state',
        'june-stt-tailscale-state',
      ]);
      for (const secret of secrets) {
        // No data or stringData: containerboot owns them, and Helm must never send them.
        expect(Object.keys(secret).sort()).toEqual(['apiVersion', 'kind', 'metadata', 'type']);
        expect(secret.type).toBe('Opaque');
        expect(secret.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
      }
    });

    it('state.persist=false: in-memory state, no Role, no state Secret, replicas > 1 allowed', async () => {
      const { objects, env } = await pod(helm, { 'tailscale.state.persist': false, 'services.orchestrator.replicas': 3 });
      expect(env.TS_KUBE_SECRET).toBe('');
      expect(ofKind(objects, 'Role')).toEqual([]);
      expect(ofKind(objects, 'Secret')).toEqual([]);
      const d = byName(objects, 'Deployment', 'june-orchestrator');
      expect(d.spec.replicas).toBe(3);
      expect(d.spec.strategy).toBeUndefined();
      byName(objects, 'ServiceAccount', 'june-orchestrator-tailscale');
    });

    it('adding a service is values only: the same sidecar for stt and tts', async () => {
      for (const svc of ['stt', 'tts']) {
        const { env } = await pod(helm, { 'services.stt.enabled': true, 'services.tts.enabled': true }, svc);
        expect(env.TS_HOSTNAME).toBe(`june-${svc}`);
        expect(env.TS_AUTHKEY).toEqual({ secretKeyRef: { name: 'headscale-auth-keys', key: `june-${svc}-authkey` } });
      }
    });
  });
}
