// Against a real kube-apiserver (the e2e environment, without sidecars): Helm never wipes
// what containerboot writes into the chart-created state Secret, and an unowned state
// Secret left by an older chart does not fail the install. Not part of a vitest project
// (the chart tests need only helm); run by hand after the e2e toolchain is built:
//   node test/charts/state-secret-scenario.mjs 3   (and 4)
// Every line must say PASS. A candidate for the e2e suite.
import { fileURLToPath } from 'node:url';
import { startEnv } from '../e2e/env/load.mjs';
const major = Number(process.argv[2] ?? 4);
const CHART = fileURLToPath(new URL('../../helm/june-platform', import.meta.url));
const NS = 'june-services';
const SECRET = 'june-orchestrator-tailscale-state';
const env = await startEnv({ helm: major, sidecars: false, name: `stchk${major}` });
const results = [];
const check = (label, ok, detail = '') => {
  results.push(`${ok ? 'PASS' : 'FAIL'} helm${major} ${label}${detail ? ` (${detail})` : ''}`);
  console.log(results.at(-1));
};
const k = (args, o) => env.kubectl(args, o);
const h = (args, o) => env.helm(args, o);
const secret = async () => {
  try {
    return JSON.parse(await k(['-n', NS, 'get', 'secret', SECRET, '-o', 'json', '--show-managed-fields']));
  } catch {
    return null;
  }
};
const base = ['-n', NS, '-f', `${CHART}/values-headscale.yaml`, '--set', 'tailscale.controlUrl=http://127.0.0.1:1'];
try {
  await k(['create', 'namespace', NS]);
  await h(['install', 'june-platform', CHART, ...base]);
  let s = await secret();
  check('install creates the state Secret empty with keep', s && !s.data && s.metadata.annotations?.['helm.sh/resource-policy'] === 'keep');
  // what containerboot does: a JSON patch adding /data (field manager of its own)
  await k([
    '-n',
    NS,
    'patch',
    'secret',
    SECRET,
    '--type=json',
    '--field-manager=containerboot',
    '-p',
    JSON.stringify([
      {
        op: 'add',
        path: '/data',
        value: { _machinekey: Buffer.from('mk').toString('base64'), profile: Buffer.from('p').toString('base64') },
      },
    ]),
  ]);
  const keys = async () =>
    Object.keys((await secret())?.data ?? {})
      .sort()
      .join(',');
  check('containerboot data written', (await keys()) === '_machinekey,profile');
  await h(['upgrade', 'june-platform', CHART, ...base, '--set', 'tailscale.acceptDns=true']);
  check('upgrade with changed values keeps data', (await keys()) === '_machinekey,profile', await keys());
  await h(['upgrade', 'june-platform', CHART, ...base, '--set', 'tailscale.enabled=false']);
  check('sidecars off keeps the Secret and data', (await keys()) === '_machinekey,profile', await keys());
  await h(['upgrade', 'june-platform', CHART, ...base]);
  const manifest = await h(['get', 'manifest', 'june-platform', '-n', NS]);
  check(
    'sidecars on again adopts it, data kept',
    manifest.includes(`name: ${SECRET}`) && (await keys()) === '_machinekey,profile',
    await keys(),
  );
  await h(['rollback', 'june-platform', '1', '-n', NS]);
  check('rollback to revision 1 keeps data', (await keys()) === '_machinekey,profile', await keys());
  await h(['rollback', 'june-platform', '3', '-n', NS]);
  check('rollback to the sidecars-off revision keeps the Secret', (await keys()) === '_machinekey,profile', await keys());
  await h(['uninstall', 'june-platform', '-n', NS]);
  check('uninstall keeps the Secret and data', (await keys()) === '_machinekey,profile', await keys());
  await h(['install', 'june-platform', CHART, ...base]);
  check('reinstall adopts it, data kept', (await keys()) === '_machinekey,profile', await keys());
  s = await secret();
  const managers = (s.metadata.managedFields ?? []).map((m) => `${m.manager}:${m.operation}:${Object.keys(m.fieldsV1 ?? {}).join('+')}`);
  console.log('  managedFields:', managers.join(' | '));
  if (major === 4) console.log('  apply_method:', JSON.parse(await h(['status', 'june-platform', '-n', NS, '-o', 'json'])).apply_method);
  // A Secret the sidecar of an older chart created itself: no Helm ownership.
  await h(['uninstall', 'june-platform', '-n', NS]);
  await k(['-n', NS, 'delete', 'secret', '--all']);
  await k(['-n', NS, 'create', 'secret', 'generic', SECRET, '--from-literal=_machinekey=old']);
  try {
    await h(['install', 'june-platform', CHART, ...base]);
    check('install beside an unowned state Secret succeeds', true);
  } catch (e) {
    check('install beside an unowned state Secret succeeds', false, String(e.message).split('\n').slice(-3).join(' '));
  }
  const m2 = await h(['get', 'manifest', 'june-platform', '-n', NS]).catch(() => '');
  check(
    'the unowned Secret stays out of the release, data kept',
    !m2.includes(`name: ${SECRET}`) && (await keys()) === '_machinekey',
    await keys(),
  );
  check("the other services' state Secrets are in it", m2.includes('name: june-idp-tailscale-state'));
  await h(['upgrade', 'june-platform', CHART, ...base, '--set', 'tailscale.acceptDns=true']);
  check('upgrade beside it keeps it unowned and intact', (await keys()) === '_machinekey');
} catch (e) {
  check('scenario ran', false, e.message);
} finally {
  await env.stop();
}
process.exitCode = results.some((r) => r.startsWith('FAIL')) ? 1 : 0;
