// What the headscale chart's config.yaml and Deployment promise, checked on the render.
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { HEADSCALE_CONFIGMAP, HEADSCALE_DEPLOYMENT } from '../../src/names.js';
import { HEADSCALE_CHART, HELMS, byName, parseManifests, requireBin, shouldSkip, template, type Helm, type RenderOptions } from './helm.js';

async function render(helm: Helm, opts: RenderOptions = {}) {
  const objects = parseManifests(await template(helm, HEADSCALE_CHART, opts));
  const cm = byName(objects, 'ConfigMap', HEADSCALE_CONFIGMAP);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const config = parse(cm.data['config.yaml'] as string) as any;
  const deployment = byName(objects, 'Deployment', HEADSCALE_DEPLOYMENT);
  return { objects, cm, config, deployment, pod: deployment.spec.template.spec };
}

for (const helm of HELMS) {
  describe.skipIf(shouldSkip(helm))(`${helm.flavour}: headscale chart`, () => {
    beforeAll(() => {
      requireBin(helm);
    });

    it('writes current (0.23+) config keys with the defaults', async () => {
      const { config } = await render(helm);
      expect(config.server_url).toBe('https://headscale.ozzu.world');
      expect(config.listen_addr).toBe('0.0.0.0:8080');
      expect(config.metrics_listen_addr).toBe('127.0.0.1:9090');
      expect(config.grpc_listen_addr).toBeDefined();
      expect(config.noise.private_key_path).toBe('/var/lib/headscale/noise_private.key');
      expect(config.prefixes).toMatchObject({ v4: '100.64.0.0/10', v6: 'fd7a:115c:a1e0::/48' });
      expect(config.database).toEqual({ type: 'sqlite', sqlite: { path: '/var/lib/headscale/db.sqlite', write_ahead_log: true } });
      expect(config.dns).toMatchObject({
        magic_dns: true,
        base_domain: 'tail.ozzu.world',
        nameservers: { global: ['1.1.1.1', '1.0.0.1'] },
      });
      expect(config.derp.urls).toEqual(['https://controlplane.tailscale.com/derpmap/default']);
      expect(config.unix_socket).toBe('/var/run/headscale/headscale.sock');
      // Keys renamed in 0.23 are fatal if present.
      for (const old of ['dns_config', 'ip_prefixes', 'db_type', 'db_path', 'acl_policy_path']) expect(config).not.toHaveProperty(old);
    });

    it('derives server_url from headscale.domain unless serverUrl is given', async () => {
      expect((await render(helm, { set: { 'headscale.domain': 'hs.example.org' } })).config.server_url).toBe('https://hs.example.org');
      const { config } = await render(helm, { set: { 'headscale.serverUrl': 'http://10.0.0.5:8080' } });
      expect(config.server_url).toBe('http://10.0.0.5:8080');
    });

    it('embedded DERP: private key on the volume and a STUN port', async () => {
      const { config, objects, pod } = await render(helm, { set: { 'headscale.derp.server.enabled': true, 'headscale.derp.urls': [] } });
      expect(config.derp.server).toMatchObject({
        enabled: true,
        private_key_path: '/var/lib/headscale/derp_server_private.key',
        stun_listen_addr: '0.0.0.0:3478',
      });
      expect(config.derp.urls).toEqual([]);
      expect(pod.containers[0].ports).toContainEqual({ name: 'stun', containerPort: 3478, protocol: 'UDP' });
      expect(byName(objects, 'Service', 'headscale').spec.ports).toContainEqual({
        name: 'stun',
        port: 3478,
        targetPort: 'stun',
        protocol: 'UDP',
      });
    });

    it('without a policy of its own, Headscale keeps the policy in its database (june-ts writes it there)', async () => {
      const { config, cm } = await render(helm);
      expect(config.policy).toEqual({ mode: 'database' });
      expect(cm.data).not.toHaveProperty('policy.hujson');
      const path = await render(helm, { set: { 'headscale.policy.path': '/etc/policy/acl.hujson' } });
      expect(path.config.policy).toEqual({ mode: 'file', path: '/etc/policy/acl.hujson' });
    });

    it('inline policy is shipped in the ConfigMap and referenced by policy.path', async () => {
      const policy = '{ "acls": [ { "action": "accept", "src": ["*"], "dst": ["*:*"] } ] }';
      const { config, cm } = await render(helm, { set: { 'headscale.policy.inline': policy } });
      expect(config.policy).toEqual({ mode: 'file', path: '/etc/headscale/policy.hujson' });
      expect(cm.data['policy.hujson'].trim()).toBe(policy);
    });

    it('runs headscale serve, pinned and distroless, hardened, with /health probes', async () => {
      const { deployment, pod } = await render(helm);
      expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
      expect(deployment.spec.replicas).toBe(1);
      const c = pod.containers[0];
      expect(c.image).toBe('headscale/headscale:0.29.3');
      expect(c.args).toEqual(['serve']);
      expect(c.startupProbe).toEqual({ httpGet: { path: '/health', port: 'http' }, periodSeconds: 5, failureThreshold: 120 });
      expect(c.livenessProbe.httpGet).toEqual({ path: '/health', port: 'http' });
      expect(c.livenessProbe.initialDelaySeconds).toBeUndefined();
      expect(c.readinessProbe.httpGet).toEqual({ path: '/health', port: 'http' });
      expect(c.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
      });
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true });
      const mounts = Object.fromEntries(c.volumeMounts.map((m: { name: string; mountPath: string }) => [m.name, m.mountPath]));
      expect(mounts).toMatchObject({ config: '/etc/headscale', data: '/var/lib/headscale', run: '/var/run/headscale' });
      const volumes = Object.fromEntries(pod.volumes.map((v: { name: string }) => [v.name, v]));
      expect(volumes.run.emptyDir).toEqual({});
      expect(volumes.data.persistentVolumeClaim).toEqual({ claimName: 'headscale-data' });
    });

    it('metrics/debug port: loopback and off the Service unless service.exposeMetrics', async () => {
      const off = await render(helm);
      expect(off.pod.containers[0].ports.map((p: { name: string }) => p.name)).toEqual(['http']);
      expect(byName(off.objects, 'Service', 'headscale').spec.ports.map((p: { name: string }) => p.name)).toEqual(['http']);
      const on = await render(helm, {
        set: { 'service.exposeMetrics': true, 'headscale.metricsListenAddr': '0.0.0.0:9090', 'service.metricsPort': 9100 },
      });
      expect(on.config.metrics_listen_addr).toBe('0.0.0.0:9090');
      expect(on.pod.containers[0].ports).toContainEqual({ name: 'metrics', containerPort: 9090, protocol: 'TCP' });
      expect(byName(on.objects, 'Service', 'headscale').spec.ports).toContainEqual({
        name: 'metrics',
        port: 9100,
        targetPort: 'metrics',
        protocol: 'TCP',
      });
    });

    it('writes the ephemeral timeout under the key the deployed version reads', async () => {
      for (const [tag, newKey] of [
        ['0.29.3', true],
        ['v0.29.0', true],
        ['0.26.1', false],
        ['0.23.0', false],
      ] as const) {
        const { config } = await render(helm, { set: { 'image.tag': tag, 'headscale.ephemeralNodeInactivityTimeout': '10m' } });
        if (newKey) {
          expect(config.node, tag).toEqual({ ephemeral: { inactivity_timeout: '10m' } });
          expect(config, tag).not.toHaveProperty('ephemeral_node_inactivity_timeout');
        } else {
          expect(config.ephemeral_node_inactivity_timeout, tag).toBe('10m');
          expect(config, tag).not.toHaveProperty('node');
        }
      }
      // A tag that is no version (a digest, a custom build) is taken as the chart's appVersion.
      expect((await render(helm, { set: { 'image.tag': 'sha-abc123' } })).config.node).toBeDefined();
    });

    it('extraConfig keys renamed or removed in 0.29 are written as each deployed version reads them', async () => {
      const extra = { 'headscale.extraConfig': { oidc: { expiry: '180d' }, randomize_client_port: false } };
      for (const tag of ['0.26.1', '0.27.1', '0.28.0']) {
        const { config } = await render(helm, { set: { 'image.tag': tag, ...extra } });
        expect(config.oidc, tag).toEqual({ expiry: '180d' });
        expect(config.randomize_client_port, tag).toBe(false);
        expect(config, tag).not.toHaveProperty('node');
      }
      const { config } = await render(helm, { set: { 'image.tag': '0.29.3', ...extra } });
      expect(config.node).toEqual({ expiry: '180d', ephemeral: { inactivity_timeout: '30m' } });
      expect(config).not.toHaveProperty('oidc');
      expect(config).not.toHaveProperty('randomize_client_port');
      // The new spelling given for an older version is written the old way.
      const old = (await render(helm, { set: { 'image.tag': '0.28.0', 'headscale.extraConfig': { node: { expiry: '90d' } } } })).config;
      expect(old.oidc).toEqual({ expiry: '90d' });
      expect(old).not.toHaveProperty('node');
    });

    it('stopped: true scales Headscale to 0 pods (june-ts restores a backup meanwhile)', async () => {
      const replicas = async (set: Record<string, unknown>) => (await render(helm, { set })).deployment.spec.replicas;
      expect(await replicas({})).toBe(1);
      expect(await replicas({ stopped: true })).toBe(0);
    });

    it('allows dns.use_username_in_magic_dns in extraConfig only before 0.25', async () => {
      const { config } = await render(helm, {
        set: { 'image.tag': '0.24.3', 'headscale.extraConfig': { dns: { use_username_in_magic_dns: false } } },
      });
      expect(config.dns).toMatchObject({ use_username_in_magic_dns: false, magic_dns: true });
    });

    it('allows overrideLocalDns with no global nameservers on 0.23 (which has no such check)', async () => {
      const { config } = await render(helm, { set: { 'image.tag': '0.23.0', 'headscale.dns.nameservers.global': [] } });
      expect(config.dns).toMatchObject({ override_local_dns: true, nameservers: { global: [] } });
    });

    it('pod settings: labels, annotations, pull secrets, priority, spread constraints', async () => {
      const spread = { maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway' };
      const { deployment, pod } = await render(helm, {
        set: {
          podLabels: { team: 'net' },
          podAnnotations: { 'backup/skip': 'true' },
          imagePullSecrets: [{ name: 'regcred' }],
          priorityClassName: 'infra',
          topologySpreadConstraints: [spread],
        },
      });
      expect(deployment.spec.template.metadata.labels).toMatchObject({ team: 'net', 'app.kubernetes.io/name': 'headscale' });
      expect(deployment.spec.template.metadata.annotations).toMatchObject({ 'backup/skip': 'true' });
      expect(deployment.spec.template.metadata.annotations['checksum/config']).toBeDefined();
      expect(pod).toMatchObject({
        imagePullSecrets: [{ name: 'regcred' }],
        priorityClassName: 'infra',
        topologySpreadConstraints: [spread],
      });
    });

    it('persistence: PVC size and class, or an existing claim', async () => {
      const { objects } = await render(helm, { set: { 'persistence.size': '5Gi', 'persistence.storageClass': 'fast' } });
      const pvc = byName(objects, 'PersistentVolumeClaim', 'headscale-data');
      expect(pvc.spec).toMatchObject({ storageClassName: 'fast', resources: { requests: { storage: '5Gi' } } });

      const existing = await render(helm, { set: { 'persistence.existingClaim': 'hs-data' } });
      expect(existing.objects.filter((o) => o.kind === 'PersistentVolumeClaim')).toEqual([]);
      const data = existing.pod.volumes.find((v: { name: string }) => v.name === 'data');
      expect(data.persistentVolumeClaim).toEqual({ claimName: 'hs-data' });
    });

    it('Ingress for the Headscale domain with configurable class, annotations and TLS', async () => {
      const { objects } = await render(helm, {
        set: {
          'headscale.domain': 'hs.example.org',
          'ingress.className': 'traefik',
          'ingress.annotations': { 'cert-manager.io/cluster-issuer': 'le' },
          'ingress.tls.secretName': 'hs-cert',
        },
      });
      const ing = byName(objects, 'Ingress', 'headscale');
      expect(ing.metadata.annotations).toEqual({ 'cert-manager.io/cluster-issuer': 'le' });
      expect(ing.spec.ingressClassName).toBe('traefik');
      expect(ing.spec.tls).toEqual([{ hosts: ['hs.example.org'], secretName: 'hs-cert' }]);
      expect(ing.spec.rules[0].host).toBe('hs.example.org');
    });

    it('a config change changes the pod template (Headscale reads config only at start)', async () => {
      const a = await render(helm);
      const b = await render(helm, { set: { 'headscale.log.level': 'debug' } });
      expect(a.deployment.spec.template.metadata.annotations['checksum/config']).not.toBe(
        b.deployment.spec.template.metadata.annotations['checksum/config'],
      );
    });
  });
}
