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
  async function renderConfig(name: string, opts: RenderOptions, edit: (cfg: string) => string = (c) => c): Promise<string> {
    if (!HELM) throw new Error('unreachable: no helm');
    const cm = byName(parseManifests(await template(HELM, HEADSCALE_CHART, opts)), 'ConfigMap', HEADSCALE_CONFIGMAP);
    const dir = mkdtempSync(join(work, `${name}-`));
    const config = edit(cm.data['config.yaml'] as string)
      .replaceAll('/var/lib/headscale', join(dir, 'data'))
      .replaceAll('/var/run/headscale', dir);
    parse(config); // still YAML
    const path = join(dir, 'config.yaml');
    writeFileSync(path, config);
    return path;
  }

  describe.each(HEADSCALES)('headscale %s', (_version, bin) => {
    it.each([
      ['default', {}],
      ['embedded DERP + gRPC', { set: { 'headscale.derp.server.enabled': true, 'headscale.derp.urls': [], 'headscale.grpc.enabled': true } }],
    ] as Array<[string, RenderOptions]>)('accepts %s without warnings', async (name, opts) => {
      const res = await configtest(bin, await renderConfig(name.replace(/\W+/g, '-'), opts));
      expect(res.code, res.output).toBe(0);
      expect(res.output).not.toMatch(/\bWRN\b|deprecated/i);
    });

    it('itself rejects the base_domain the chart refuses at render time', async () => {
      const path = await renderConfig('bad-base', {}, (c) => c.replace('base_domain: tail.ozzu.world', 'base_domain: ozzu.world'));
      const res = await configtest(bin, path);
      expect(res.code).not.toBe(0);
      expect(res.output).toMatch(/server_url/);
    });
  });
});
