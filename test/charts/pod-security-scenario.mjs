// The rendered pods against the real kube-apiserver's Pod Security admission: each
// Deployment's pod template is created with --dry-run=server in a namespace enforcing
// "restricted". The defaults must be admitted and kernel mode refused. Run by hand after
// the e2e toolchain is built (not part of a vitest project): node test/charts/pod-security-scenario.mjs
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { startEnv } from '../e2e/env/load.mjs';
const charts = fileURLToPath(new URL('../../helm/', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'june-ts-psa-'));
const env = await startEnv({ helm: 4, sidecars: false, name: 'psachk' });
const k = (a, o) => env.kubectl(a, o);
const h = (a, o) => env.helm(a, o);
const out = [];
try {
  await k(['create', 'namespace', 'r']);
  for (const s of ['june-idp-tailscale', 'june-orchestrator-tailscale']) await k(['-n', 'r', 'create', 'serviceaccount', s]);
  await k([
    'label',
    'namespace',
    'r',
    'pod-security.kubernetes.io/enforce=restricted',
    'pod-security.kubernetes.io/enforce-version=latest',
  ]);
  const cases = [
    ['platform sidecars off', `${charts}june-platform`, ['--set', 'services.stt.enabled=true']],
    [
      'platform sidecars on (native)',
      `${charts}june-platform`,
      ['-f', `${charts}june-platform/values-headscale.yaml`, '--set', 'tailscale.proxy.enabled=true'],
    ],
    [
      'platform sidecars on (plain)',
      `${charts}june-platform`,
      ['-f', `${charts}june-platform/values-headscale.yaml`, '--set', 'tailscale.nativeSidecar=false'],
    ],
    [
      'platform kernel mode',
      `${charts}june-platform`,
      ['-f', `${charts}june-platform/values-headscale.yaml`, '--set', 'tailscale.userspace=false,tailscale.allowKernelMode=true'],
    ],
    ['headscale', `${charts}headscale`, []],
  ];
  for (const [label, chart, args] of cases) {
    const stream = await h(['template', 'x', chart, '-n', 'r', '--kube-version', '1.34.0', ...args]);
    const deps = parseAllDocuments(stream)
      .map((d) => d.toJS())
      .filter((o) => o?.kind === 'Deployment');
    for (const d of deps) {
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: `${d.metadata.name}-check`, namespace: 'r' },
        spec: d.spec.template.spec,
      };
      const f = join(work, `pod-${d.metadata.name}.json`);
      writeFileSync(f, JSON.stringify(pod));
      const expectRefusal = label.includes('kernel');
      let verdict = 'admitted';
      try {
        await k(['create', '--dry-run=server', '-f', f]);
      } catch (e) {
        verdict = `refused: ${/violates PodSecurity.*/.exec(String(e.message))?.[0] ?? String(e.message).slice(-300)}`;
      }
      const ok = expectRefusal ? verdict.startsWith('refused: violates PodSecurity') : verdict === 'admitted';
      out.push(`${ok ? 'PASS' : 'FAIL'} ${label}: ${d.metadata.name}: ${verdict}`);
    }
  }
} catch (e) {
  out.push(`FAIL scenario: ${e.message}`);
} finally {
  await env.stop();
  rmSync(work, { recursive: true, force: true });
  console.log(out.join('\n'));
}
process.exitCode = out.some((l) => l.startsWith('FAIL')) ? 1 : 0;
