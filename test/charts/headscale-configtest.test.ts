// The rendered config.yaml, fed to real `headscale configtest` of every installed Headscale
// (scripts/tools/e2e-toolchain.sh puts them under <cache>/bin/headscale-v*/headscale).
// Skipped when none is installed: the chart tests need only helm.
import { mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { HEADSCALE_CONFIGMAP } from '../../src/names.js';
import { HEADSCALE_CHART, HELMS, byName, cacheRoot, parseManifests, runBinary, template, type RenderOptions } from './helm.js';

function installedHeadscales(): Array<[string, string]> {
  const binDir = join(cacheRoot(), 'bin');
  if (!existsSync(binDir)) return [];
  return readdirSync(binDir)
    .filter((d) => d.startsWith('headscale-v'))
    .map((d): [string, string] => [d.slice('headscale-'.length), join(binDir, d, 'headscale')])
    .filter(([, bin]) => existsSync(bin));
}

const HEADSCALES = installedHeadscales();
const HELM = HELMS.find((h) => h.bin !== undefined);

async function configtest(bin: string, configPath: string): Promise<{ code: number; output: string }> {
  const res = await runBinary(bin, ['configtest', '-c', configPath]);
  return { code: res.code, output: res.stdout + res.stderr };
}

describe.skipIf(HEADSCALES.length === 0 || HELM === undefined)('headscale configtest of the rendered config', () => {
  let work = '';
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'june-ts-hs-config-'));
  });
  afterAll(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Render config.yaml, with the in-pod paths moved into a fresh temp dir. */
  async function renderConfig(name: string, opts: RenderOptions, edit?: (cfg: string) => string): Promise<string> {
    if (!HELM) throw new Error('unreachable: no helm');
    const cm = byName(parseManifests(await template(HELM, HEADSCALE_CHART, opts)), 'ConfigMap', HEADSCALE_CONFIGMAP);
    const dir = mkdtempSync(join(work, `${name}-`));
    const rendered = cm.data['config.yaml'] as string;
    const edited = edit ? edit(rendered) : rendered;
    if (edit && edited === rendered) throw new Error(`${name}: the edit changed nothing in the rendered config.yaml`);
    const config = edited.replaceAll('/var/lib/headscale', join(dir, 'data')).replaceAll('/var/run/headscale', dir);
    parse(config); // still YAML
    const path = join(dir, 'config.yaml');
    writeFileSync(path, config);
    return path;
  }

  describe.each(HEADSCALES)('headscale %s', (version, bin) => {
    /** Rendered as the chart renders it when it deploys this version. */
    const forVersion = (opts: RenderOptions = {}): RenderOptions => ({
      ...opts,
      set: { 'image.tag': version.replace(/^v/, ''), ...opts.set },
    });
    const minor = Number(version.replace(/^v/, '').split('.')[1]);

    it.each([
      ['default', {}],
      [
        'embedded DERP + gRPC',
        { set: { 'headscale.derp.server.enabled': true, 'headscale.derp.urls': [], 'headscale.grpc.enabled': true } },
      ],
      ['metrics exposed', { set: { 'service.exposeMetrics': true, 'headscale.metricsListenAddr': '0.0.0.0:9090' } }],
      ['ephemeral timeout of 66s', { set: { 'headscale.ephemeralNodeInactivityTimeout': '66s' } }],
    ] as Array<[string, RenderOptions]>)('accepts %s without warnings', async (name, opts) => {
      const res = await configtest(bin, await renderConfig(name.replace(/\W+/g, '-'), forVersion(opts)));
      expect(res.code, res.output).toBe(0);
      expect(res.output).not.toMatch(/\bWRN\b|deprecated/i);
    });

    it('accepts extraConfig written for another version once the chart renders it for this one', async () => {
      const extra = { 'headscale.extraConfig': { oidc: { expiry: '180d' }, randomize_client_port: false } };
      const res = await configtest(bin, await renderConfig('renamed-keys', forVersion({ set: extra })));
      expect(res.code, res.output).toBe(0);
      expect(res.output).not.toMatch(/\bWRN\b|deprecated/i);
    });

    it('itself rejects the base_domain the chart refuses at render time', async () => {
      const path = await renderConfig('bad-base', forVersion(), (c) =>
        c.replace('base_domain: tail.ozzu.world', 'base_domain: ozzu.world'),
      );
      const res = await configtest(bin, path);
      expect(res.code).not.toBe(0);
      expect(res.output).toMatch(/server_url/);
    });

    // Each edit makes the config what the chart refuses to render (validation.test.ts).
    it('itself rejects an ephemeral inactivity timeout of 65s', async () => {
      const path = await renderConfig('short-ephemeral', forVersion(), (c) =>
        c.replace(/inactivity_timeout: 30m/, 'inactivity_timeout: 65s'),
      );
      const res = await configtest(bin, path);
      expect(res.code, res.output).not.toBe(0);
      expect(res.output).toMatch(/inactivity_timeout.*too low/);
    });

    it(`${minor >= 26 ? 'rejects' : 'accepts'} override_local_dns with no global nameservers (the chart refuses it from 0.26)`, async () => {
      const path = await renderConfig(
        'no-nameservers',
        forVersion({ set: { 'headscale.dns.nameservers.global': [], 'headscale.dns.overrideLocalDns': false } }),
        (c) => c.replace('override_local_dns: false', 'override_local_dns: true'),
      );
      const res = await configtest(bin, path);
      if (minor >= 26) {
        expect(res.code, res.output).not.toBe(0);
        expect(res.output).toMatch(/dns\.nameservers\.global must be set when dns\.override_local_dns is true/);
      } else {
        expect(res.code, res.output).toBe(0);
      }
    });

    it(`${minor >= 29 ? 'rejects' : 'accepts'} randomize_client_port (the chart refuses it in extraConfig from 0.29)`, async () => {
      const path = await renderConfig('randomize', forVersion(), (c) => `${c}randomize_client_port: true\n`);
      const res = await configtest(bin, path);
      if (minor >= 29) {
        expect(res.code, res.output).not.toBe(0);
        expect(res.output).toMatch(/randomize_client_port/);
      } else {
        expect(res.code, res.output).toBe(0);
      }
    });
  });
});
