// Start-up benchmark: median wall time of `node -e 0`, `june-ts --help` and
// `june-ts install --dry-run --config config.env.example`, interleaved (one round runs each
// contender once, in turn) so background load hits all three alike. Not a test: always exit 0.
//   node bench/startup.mjs [--runs N] [--json]
import { spawnSync } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export const REPO = resolve(import.meta.dirname, '..');
const BIN = join(REPO, 'bin', 'june-ts.js');

export const STARTUP_TARGETS = { help: 1.5, dryRun: 3 };

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** @returns {{ rows: {name:string, cmd:string, samples:number[], median:number, ratio:number, target?:number, met?:boolean}[], runs:number }} */
export function measureStartup(runs = 15) {
  const contenders = [
    { name: 'node -e 0', cmd: 'node -e 0', args: ['-e', '0'] },
    { name: 'june-ts --help', cmd: 'node bin/june-ts.js --help', args: [BIN, '--help'], target: STARTUP_TARGETS.help },
    {
      name: 'june-ts install --dry-run',
      cmd: 'node bin/june-ts.js install --dry-run --config config.env.example',
      args: [BIN, 'install', '--dry-run', '--config', join(REPO, 'config.env.example')],
      target: STARTUP_TARGETS.dryRun,
    },
  ];
  const devnull = openSync('/dev/null', 'w');
  const samples = contenders.map(() => []);
  const env = { ...process.env, NO_COLOR: '1' };
  // one unmeasured warm-up round (page cache, compile cache)
  for (const c of contenders) spawnSync(process.execPath, c.args, { cwd: REPO, stdio: ['ignore', devnull, devnull], env });
  for (let r = 0; r < runs; r++) {
    // rotate the order each round so no contender always runs right after another
    for (let j = 0; j < contenders.length; j++) {
      const i = (j + r) % contenders.length;
      const t0 = process.hrtime.bigint();
      const res = spawnSync(process.execPath, contenders[i].args, { cwd: REPO, stdio: ['ignore', devnull, 'pipe'], env });
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (res.status !== 0)
        process.stderr.write(`warning: ${contenders[i].cmd} exited ${res.status}: ${String(res.stderr).slice(0, 300)}\n`);
      samples[i].push(ms);
    }
  }
  closeSync(devnull);
  const base = median(samples[0]);
  const rows = contenders.map((c, i) => {
    const m = median(samples[i]);
    const ratio = m / base;
    return {
      name: c.name,
      cmd: c.cmd,
      samples: samples[i],
      median: m,
      ratio,
      target: c.target,
      met: c.target === undefined ? undefined : ratio <= c.target,
    };
  });
  return { rows, runs };
}

/**
 * What loading each large bundled dependency costs a fresh process: the median time of
 * `import()` of the dist chunk that holds it (found through dist/meta.json), `runs` times.
 */
export function measureModuleCosts(runs = 7) {
  const meta = JSON.parse(readFileSync(join(REPO, 'dist', 'meta.json'), 'utf8'));
  const chunkOf = (pkg) =>
    Object.entries(meta.outputs).find(
      ([file, out]) => file.endsWith('.js') && Object.keys(out.inputs).some((i) => i.includes(`node_modules/${pkg}/`)),
    )?.[0];
  const rows = [];
  for (const pkg of ['@kubernetes/client-node', 'zod', 'yaml', 'execa']) {
    const file = chunkOf(pkg);
    if (!file) continue;
    const url = pathToFileURL(join(REPO, file)).href;
    const code = `const t = performance.now(); await import(${JSON.stringify(url)}); process.stdout.write(String(performance.now() - t));`;
    const samples = [];
    for (let r = 0; r < runs; r++) {
      const res = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
      if (res.status === 0) samples.push(Number(res.stdout));
    }
    if (samples.length) rows.push({ pkg, file: file.replace(/^dist\//, ''), kib: meta.outputs[file].bytes / 1024, ms: median(samples) });
  }
  return rows;
}

export function startupTable({ rows, runs }) {
  const lines = [`| command | median of ${runs} (ms) | min (ms) | ratio to \`node -e 0\` | target | |`, '|---|---:|---:|---:|---|---|'];
  for (const r of rows) {
    lines.push(
      `| \`${r.cmd}\` | ${r.median.toFixed(1)} | ${Math.min(...r.samples).toFixed(1)} | ${r.ratio.toFixed(2)}× | ${r.target ? `≤ ${r.target}×` : '—'} | ${r.met === undefined ? '' : r.met ? 'met' : '**missed**'} |`,
    );
  }
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const i = process.argv.indexOf('--runs');
  const runs = i > 0 ? Math.max(10, Number(process.argv[i + 1]) || 15) : 15;
  const result = measureStartup(runs);
  if (process.argv.includes('--json')) console.log(JSON.stringify(result, null, 2));
  else console.log(startupTable(result));
}
