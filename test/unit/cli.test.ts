// Black-box runs of the built binary (dist/ is built by global-setup.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { flatten, renderTree, type Phase } from '../../src/phases/engine.js';
import { WORKFLOWS } from '../../src/phases/workflows.js';

const ROOT = resolve(__dirname, '../..');
const BIN = resolve(ROOT, 'bin/june-ts.js');
const EXAMPLE = resolve(ROOT, 'config.env.example');
const tmp = mkdtempSync(join(tmpdir(), 'june-ts-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A clean environment: nothing of the developer's HEADSCALE_* or KUBECONFIG leaks in. */
const BASE_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: tmp, NO_COLOR: '1', HOST_HOSTNAME: 'june-host-1' };

function cli(args: string[], options: { env?: Record<string, string>; nodeArgs?: string[]; cwd?: string } = {}) {
  const r = spawnSync(process.execPath, [...(options.nodeArgs ?? []), BIN, ...args], {
    cwd: options.cwd ?? tmp,
    env: { ...BASE_ENV, ...options.env },
    encoding: 'utf8',
    stdio: ['pipe', 'pipe', 'pipe'],
    input: '',
    timeout: 30_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const NO_STACK = /^\s+at /m;
// eslint-disable-next-line no-control-regex -- an ANSI escape sequence is what this looks for
const ANSI = /\u001b\[/;

describe('help and phases', () => {
  it('--help exits 0 and shows commands, the install phase tree and the exit codes', () => {
    const r = cli(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    for (const cmd of ['install', 'deploy-sidecars', 'rotate-keys', 'cleanup', 'phases', 'config'])
      expect(r.stdout).toMatch(new RegExp(`^  ${cmd}\\b`, 'm'));
    expect(r.stdout).toContain(`Phases of \`june-ts install\`:\n${renderTree(WORKFLOWS.install as Phase<unknown>[])}\n`);
    for (const line of [
      '0    success',
      '1    an external command or API call failed',
      '3    invalid configuration, flags or phase selection',
      '130  interrupted',
    ]) {
      expect(r.stdout).toContain(line);
    }
    expect(r.stdout).not.toMatch(ANSI);
  });

  it("<command> --help shows that command's phases", () => {
    const r = cli(['rotate-keys', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(renderTree(WORKFLOWS['rotate-keys'] as Phase<unknown>[]));
    expect(r.stdout).toContain('--service <name>');
  });

  it('--version prints the package version', () => {
    const r = cli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe((JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as { version: string }).version);
  });

  it('phases deploy-sidecars prints exactly that tree; phases defaults to install', () => {
    const r = cli(['phases', 'deploy-sidecars']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${renderTree(WORKFLOWS['deploy-sidecars'] as Phase<unknown>[])}\n`);
    expect(r.stdout).toContain('11.2-headscale-sidecars/verify');
    expect(r.stdout).not.toContain('11-headscale');
    expect(cli(['phases']).stdout).toBe(`${renderTree(WORKFLOWS.install as Phase<unknown>[])}\n`);
  });
});

describe('usage errors exit 3', () => {
  it('unknown command', () => {
    const r = cli(['instal']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("error: unknown command 'instal'");
    expect(r.stderr).toContain('(Did you mean install?)');
    expect(r.stdout).toBe('');
  });

  it('unknown option', () => {
    const r = cli(['install', '--dry-rnu', '--config', EXAMPLE]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("error: unknown option '--dry-rnu'");
    expect(r.stderr).not.toMatch(NO_STACK);
  });

  it('unknown workflow for phases', () => {
    const r = cli(['phases', 'nope']);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("error: unknown command 'nope' — use one of install, deploy-sidecars, rotate-keys, cleanup");
  });

  it('unknown phase id lists the valid ids', () => {
    const r = cli(['install', '--dry-run', '--skip', '11.3-nope', '--config', EXAMPLE]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('error: --skip 11.3-nope: no such phase in `june-ts install`');
    expect(lines[1]).toBe('  valid phase ids:');
    expect(lines.slice(2).map((l) => l.trim())).toEqual(flatten(WORKFLOWS.install).map((p) => p.id));
  });

  it('a skipped prerequisite names both phases', () => {
    const r = cli(['install', '--dry-run', '--skip', '11.2-headscale-sidecars/users', '--config', EXAMPLE]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(
      'error: phase 11.2-headscale-sidecars/keys needs 11.2-headscale-sidecars/users, which is skipped (--skip 11.2-headscale-sidecars/users)',
    );
  });

  it('--dry-run=bogus', () => {
    const r = cli(['install', '--dry-run=bogus', '--config', EXAMPLE]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("error: --dry-run: 'bogus' is not a mode — use --dry-run (static, no cluster) or --dry-run=live");
    expect(r.stdout).toBe('');
  });

  it('-o with a bad format', () => {
    const r = cli(['install', '--dry-run', '-o', 'yaml', '--config', EXAMPLE]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("argument 'yaml' is invalid");
  });

  it('bad config: one line per field, the file named, no stack trace', () => {
    const path = join(tmp, 'bad.env');
    writeFileSync(path, 'HEADSCALE_DOMAIN=bad_domain\nWAIT_TIMEOUT=0\nHEADSCALE_NAMESPACE=NS\n');
    const r = cli(['install', '--dry-run', '--config', path]);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).not.toMatch(NO_STACK);
    expect(r.stderr).not.toContain('internal error');
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      'error: invalid configuration:',
      "  - HEADSCALE_DOMAIN: 'bad_domain' is not a DNS name — use e.g. headscale.example.com (no scheme, no port)",
      "  - HEADSCALE_NAMESPACE: 'NS' is not a Kubernetes name — use lowercase letters, digits and '-', at most 63 characters",
      "  - WAIT_TIMEOUT: '0' is not a duration — use a positive number followed by s, m or h, e.g. 5m",
      `  fix ${path} (or the environment variables named above)`,
    ]);
  });

  it('a missing --config file', () => {
    const r = cli(['install', '--dry-run', '--config', join(tmp, 'absent.env')]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`error: config file ${join(tmp, 'absent.env')} does not exist`);
    expect(r.stderr).not.toMatch(NO_STACK);
  });

  it('cleanup without --yes and without a TTY refuses', () => {
    const r = cli(['cleanup', '--config', EXAMPLE]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('refusing without --yes');
    expect(r.stderr).toContain(
      'error: cleanup would remove the Tailscale sidecars from june-services; refusing without --yes when not on a terminal',
    );
    const purge = cli(['cleanup', '--all', '--config', EXAMPLE]);
    expect(purge.code).toBe(3);
    expect(purge.stderr).toContain(
      'cleanup would remove the Tailscale sidecars, the Headscale users and Headscale itself from june-services',
    );
  });
});

describe('output', () => {
  it('a dry run succeeds and, with NO_COLOR, has no ANSI escapes on stdout or stderr', () => {
    const r = cli(['install', '--dry-run', '--config', EXAMPLE]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('● 11.2-headscale-sidecars/keys');
    expect(r.stdout + r.stderr).not.toMatch(ANSI);
    const bad = cli(['install', '--dry-run', '--config', join(tmp, 'absent.env')]);
    expect(bad.stderr).not.toMatch(ANSI);
  });

  it('a dry run reads HEADSCALE_VALUES with yaml (a dynamic import of a CommonJS package, in the bundle)', () => {
    const good = join(tmp, 'good-values.yaml');
    const bad = join(tmp, 'bad-values.yaml');
    writeFileSync(good, 'ingress:\n  className: nginx\n');
    writeFileSync(bad, 'a: [\n');
    const ok = cli(['install', '--dry-run', '--config', EXAMPLE], { env: { HEADSCALE_VALUES: good } });
    expect(ok.code, ok.stderr).toBe(0);
    const r = cli(['install', '--dry-run', '--config', EXAMPLE], { env: { HEADSCALE_VALUES: bad } });
    expect(r.code).toBe(3);
    // refused by the config loader now, before any phase: still one line naming the file and the parse error
    expect(r.stderr).toContain(`HEADSCALE_VALUES: '${bad}' is not valid YAML: Flow sequence in block collection`);
  });

  const hasScript = existsSync('/usr/bin/script');
  it.skipIf(!hasScript)('on a terminal colours appear, and NO_COLOR or --no-color removes them', () => {
    const onTty = (env: string, extra = '') => {
      const cmd = `${env} ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} install --dry-run --config ${JSON.stringify(EXAMPLE)} ${extra}`;
      const r = spawnSync('/usr/bin/script', ['-qec', cmd, '/dev/null'], {
        env: { PATH: BASE_ENV.PATH, HOME: tmp, TERM: 'xterm', HOST_HOSTNAME: 'june-host-1' },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(r.stdout).toContain('11.2-headscale-sidecars');
      return r.stdout;
    };
    expect(onTty('')).toMatch(ANSI);
    expect(onTty('NO_COLOR=1')).not.toMatch(ANSI);
    expect(onTty('', '--no-color')).not.toMatch(ANSI);
  });
});

describe('internal errors', () => {
  it('exit 1 with a stack that points into src/ (dist/ source maps, read only on this path)', () => {
    // a bug stand-in: stdout throws, so `phases` fails inside its commander action
    const broken = join(tmp, 'broken-stdout.mjs');
    writeFileSync(broken, "process.stdout.write = () => { throw new TypeError('probe: stdout is broken'); };\n");
    const r = cli(['phases'], { nodeArgs: ['--import', pathToFileURL(broken).href] });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('internal error (a bug in june-ts — please report it): TypeError: probe: stdout is broken');
    const frames = r.stderr.split('\n').filter((l) => l.startsWith('    at '));
    expect(frames.some((l) => l.includes(`(${resolve(ROOT, 'src/cli.ts')}:`) && /:\d+:\d+\)$/.test(l))).toBe(true);
    expect(r.stderr).not.toContain('/dist/');
  });
});

describe('start-up stays light', () => {
  // dist/ is an esbuild bundle (scripts/build.mjs): a module-resolution hook (node:module
  // register) records every URL the process resolves, and dist/meta.json (esbuild's metafile)
  // says which source modules each output file holds, so a loaded chunk that bundles zod counts
  // as loading zod. Externals (@kubernetes/client-node) resolve to node_modules URLs directly.
  const hooks = join(tmp, 'hooks.mjs');
  const preload = join(tmp, 'preload.mjs');
  writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';
let out;
export async function initialize(data) { out = data.out; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(out, r.url + '\\n');
  return r;
}
`,
  );
  writeFileSync(
    preload,
    `import { register } from 'node:module';
import { pathToFileURL } from 'node:url';
register(pathToFileURL(${JSON.stringify(hooks)}), { data: { out: process.env.JUNE_TS_RESOLVED_LOG } });
`,
  );
  const HEAVY = ['node_modules/execa/', 'node_modules/ora/', 'node_modules/zod/', 'node_modules/@kubernetes/'];
  const REPO = `${pathToFileURL(ROOT).href}/`;
  const DIST = `${REPO}dist/`;

  /** Source modules (paths relative to the repo, e.g. `src/cli.ts`, `node_modules/zod/…`) a run loaded. */
  function loaded(args: string[]): string[] {
    const meta = JSON.parse(readFileSync(resolve(ROOT, 'dist/meta.json'), 'utf8')) as {
      outputs: Record<string, { inputs: Record<string, unknown> }>;
    };
    const log = join(tmp, `resolved-${args.join('_').replace(/\W/g, '')}.log`);
    const r = cli(args, { nodeArgs: ['--import', pathToFileURL(preload).href], env: { JUNE_TS_RESOLVED_LOG: log } });
    expect(r.code).toBe(0);
    const urls = readFileSync(log, 'utf8').split('\n').filter(Boolean);
    const modules = new Set<string>();
    for (const url of urls) {
      if (url.startsWith(DIST)) {
        const output = meta.outputs[`dist/${url.slice(DIST.length)}`];
        // a dist file the metafile does not know means dist/ and meta.json disagree: fail, do not guess
        expect(output, `${url} is not in dist/meta.json`).toBeDefined();
        for (const input of Object.keys(output!.inputs)) modules.add(input);
      } else if (url.startsWith(REPO)) {
        modules.add(url.slice(REPO.length));
      }
    }
    return [...modules];
  }

  it.each([[['--help']], [['phases']], [['phases', 'cleanup']], [['install', '--help']]])(
    'june-ts %j loads none of execa, ora, zod, @kubernetes/client-node',
    (args) => {
      const modules = loaded(args);
      expect(modules).toContain('src/cli.ts');
      expect(modules.some((m) => m.startsWith('node_modules/commander/'))).toBe(true);
      expect(modules.filter((m) => HEAVY.some((h) => m.startsWith(h)))).toEqual([]);
    },
  );

  it('the probe sees heavy modules when they are loaded (install --dry-run needs zod)', () => {
    const modules = loaded(['install', '--dry-run', '--config', EXAMPLE]);
    expect(modules.some((m) => m.startsWith('node_modules/zod/'))).toBe(true);
    expect(modules).toContain('src/config/schema.ts');
    expect(modules.filter((m) => m.startsWith('node_modules/@kubernetes/'))).toEqual([]);
  });
});
