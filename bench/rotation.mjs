// `npm run bench:rotation`: how long `june-ts rotate-keys` takes at N = 1, 5, 20 services on
// the real e2e environment (the env's kubelet runs the key-check pods: real containerboot,
// real registration). Writes its section of BENCHMARKS.md between the rotation markers (the
// main `npm run bench` keeps that section). Not a test: exit 0 unless it cannot run.
//
//   node bench/rotation.mjs [--ns 1,5,20] [--reps 3] [--out FILE]
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEnv } from '../test/e2e/env/load.mjs';
import { ROTATION, withSection } from './sections.mjs';
import { REPO, median } from './startup.mjs';

const BIN = join(REPO, 'bin', 'june-ts.js');
const argv = process.argv.slice(2);
const opt = (name) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const NS_LIST = (opt('--ns') ?? '1,5,20').split(',').map(Number);
const REPS = Math.max(1, Number(opt('--reps') ?? 3));
const OUT = opt('--out') ?? join(REPO, 'BENCHMARKS.md');
const log = (m) => process.stderr.write(`[bench:rotation ${new Date().toISOString().slice(11, 19)}] ${m}\n`);

function valuesYaml(n) {
  const lines = ['services:', '  orchestrator:', '    enabled: false', '  idp:', '    enabled: false'];
  for (let k = 1; k <= n; k++)
    lines.push(`  svc${k}:`, '    enabled: true', `    image: "registry.invalid/june-svc${k}:1"`, '    port: 8080', '    replicas: 1');
  lines.push('tailscale:', '  authKeyRefs:');
  for (let k = 1; k <= n; k++) lines.push(`    svc${k}: june-svc${k}-authkey`);
  return lines.join('\n') + '\n';
}

function june(args, env) {
  return timed(process.execPath, [BIN, ...args], env);
}

function timed(cmd, args, env) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stderr, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
  });
}

async function benchN(n) {
  log(`N=${n}: starting the environment`);
  const env = await startEnv({ name: `bench-rot-n${n}-${process.pid}` });
  const dir = mkdtempSync(join(tmpdir(), `june-bench-rot-n${n}-`));
  try {
    const values = join(dir, 'values.yaml');
    writeFileSync(values, valuesYaml(n));
    writeFileSync(join(dir, 'headscale-values.yaml'), 'persistence:\n  enabled: false\n');
    const config = join(dir, 'config.env');
    const settings = {
      HEADSCALE_URL: env.headscale.url,
      TAILNET_DOMAIN: 'tail.june.test',
      KUBECONFIG: env.kubeconfig,
      KUBE_CONTEXT: env.context,
      HEADSCALE_VALUES: join(dir, 'headscale-values.yaml'),
      PLATFORM_VALUES: values,
      TAILSCALE_SERVICES: Array.from({ length: n }, (_, i) => `svc${i + 1}`).join(','),
      WAIT_TIMEOUT: '300s',
      HEADSCALE_API_KEY: env.headscale.apiKey,
    };
    writeFileSync(
      config,
      Object.entries(settings)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n') + '\n',
      { mode: 0o600 },
    );
    const base = { ...process.env, ...env.env, NO_COLOR: '1' };
    for (const args of [['install', '--only', '11-headscale'], ['deploy-sidecars']]) {
      const r = await june([...args, '--yes', '--config', config], base);
      if (r.code !== 0) throw new Error(`${args.join(' ')} failed (${r.code}): ${r.stderr}`);
      log(`N=${n}: ${args.join(' ')} in ${(r.ms / 1000).toFixed(1)} s`);
    }
    const rows = {};
    for (const transport of ['exec', 'api']) {
      const times = [];
      for (let rep = 0; rep < REPS; rep++) {
        const r = await june(['rotate-keys', '--yes', '--config', config], { ...base, HEADSCALE_TRANSPORT: transport });
        if (r.code !== 0) throw new Error(`rotate-keys (${transport}) failed (${r.code}): ${r.stderr}`);
        times.push(r.ms);
        log(`N=${n}: rotate-keys (${transport}) ${(r.ms / 1000).toFixed(2)} s`);
      }
      rows[transport] = times;
    }
    // what a rotation cannot avoid: N new users and keys made the fastest way (fresh names, so
    // the rotation's users are untouched), and one write of the N-entry Secret
    const services = settings.TAILSCALE_SERVICES.split(',');
    const floorEnv = {
      ...base,
      HEADSCALE_API_URL: env.headscale.url,
      HEADSCALE_API_KEY: env.headscale.apiKey,
      HEADSCALE_NUMERIC_IDS: /^v0\.2[3-5]\./.test(env.headscale.version) ? '0' : '1',
    };
    rows.hsfloor = [];
    rows.secret = [];
    for (let rep = 0; rep < REPS; rep++) {
      const f = await timed(process.execPath, [join(REPO, 'bench', 'headscale-floor.mjs'), ...services], {
        ...floorEnv,
        USER_PREFIX: `floor${rep}-`,
      });
      if (f.code !== 0) throw new Error(`headscale floor failed (${f.code}): ${f.stderr}`);
      rows.hsfloor.push(f.ms);
      const literals = services.map((s) => `--from-literal=june-${s}-authkey=placeholder-not-a-key`);
      const w = await timed('kubectl', ['-n', 'june-services', 'create', 'secret', 'generic', `bench-secret-${rep}`, ...literals], base);
      if (w.code !== 0) throw new Error(`Secret write failed (${w.code}): ${w.stderr}`);
      rows.secret.push(w.ms);
      log(`N=${n}: Headscale floor ${(f.ms / 1000).toFixed(2)} s, one Secret write ${(w.ms / 1000).toFixed(2)} s`);
    }
    // one verbose rotation: where its time goes
    const t0 = Date.now();
    const phases = [];
    await new Promise((resolve) => {
      const child = spawn(process.execPath, [BIN, 'rotate-keys', '--yes', '--verbose', '--config', config], {
        env: { ...base, HEADSCALE_TRANSPORT: 'api' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const open = new Map();
      const on = (d) => {
        for (const line of String(d).split('\n')) {
          const m = /^([▶✓])\s+(\S+)/.exec(line);
          if (m?.[1] === '▶') open.set(m[2], Date.now() - t0);
          else if (m && open.has(m[2])) phases.push([m[2], Date.now() - t0 - open.get(m[2])]);
        }
      };
      child.stdout.on('data', on);
      child.stderr.on('data', on);
      child.on('close', resolve);
    });
    return { n, rows, phases, totalMs: Date.now() - t0, headscale: env.headscale.version };
  } finally {
    await env.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function section(results, started) {
  const L = [
    ROTATION.start,
    '## rotate-keys (`npm run bench:rotation`)',
    '',
    `Generated ${started.toISOString()} on Headscale ${results[0]?.headscale}, Helm 4, ${REPS} rotations per transport and N, medians (min–max).`,
    'Each rotation mints N keys, writes the Secret, proves every key with a key-check pod that',
    "the env's kubelet runs (real containerboot, real registration), removes the pods and their",
    'nodes and expires the old keys. No service pod is restarted, so the time does not depend on',
    "the apps' start-up time.",
    '',
    'The floor is what any rotation has to wait for: N users and N reusable keys made all at once',
    'over REST (`bench/headscale-floor.mjs`, under fresh user names) plus one `kubectl create secret`',
    'of the N-entry Secret.',
    '',
    '| N | exec transport | api transport | Headscale floor | one Secret write |',
    '|---:|---:|---:|---:|---:|',
  ];
  const cell = (xs) =>
    `${(median(xs) / 1000).toFixed(2)} s (${(Math.min(...xs) / 1000).toFixed(2)}–${(Math.max(...xs) / 1000).toFixed(2)})`;
  for (const r of results)
    L.push(`| ${r.n} | ${cell(r.rows.exec)} | ${cell(r.rows.api)} | ${cell(r.rows.hsfloor)} | ${cell(r.rows.secret)} |`);
  const at = results.find((r) => r.n === 20) ?? results[results.length - 1];
  if (at) {
    const floor = median(at.rows.hsfloor) + median(at.rows.secret);
    L.push('', '| target | measured | |', '|---|---|---|');
    for (const t of ['api', 'exec']) {
      const x = median(at.rows[t]) / floor;
      L.push(
        `| N=${at.n}: rotate-keys (${t}) ≤ 1.2 × (Headscale floor + one Secret write) | ${x.toFixed(2)}× (${(median(at.rows[t]) / 1000).toFixed(2)} s / ${(floor / 1000).toFixed(2)} s) | ${x <= 1.2 ? '**met**' : '**missed**'} |`,
      );
    }
    L.push('', `Phases of one \`--verbose\` rotation at N=${at.n} (api transport, ${at.totalMs} ms in all):`, '');
    L.push('| phase | ms |', '|---|---:|', ...at.phases.map(([id, ms]) => `| ${id} | ${ms} |`));
    const prove = at.phases.find(([id]) => id === 'rotate/prove')?.[1] ?? 0;
    const rest = at.totalMs - prove;
    L.push(
      '',
      `Why the target is missed: proving the new keys is ${Math.round((100 * prove) / at.totalMs)}% of the run (${prove} ms): ` +
        `${at.n} key-check pods start, each registers a node with its service's new key, and the pods and nodes are removed again. ` +
        `The floor registers nothing. Without the proof the rotation took ${rest} ms, ${(rest / floor).toFixed(2)}× the floor.`,
    );
  }
  L.push('', ROTATION.end);
  return L.join('\n');
}

const started = new Date();
const results = [];
for (const n of NS_LIST) results.push(await benchN(n));
const current = existsSync(OUT) ? readFileSync(OUT, 'utf8') : '# Benchmarks\n';
writeFileSync(OUT, withSection(current, ROTATION, section(results, started)));
log(`wrote ${OUT}`);
