// The published package: `npm pack`, then a global install of the tarball alone into an
// empty prefix with an empty npm cache and --offline, so any dependency it asked for would
// fail the install. dist/ bundles everything june-ts runs (scripts/build.mjs), so the
// package has no dependencies and no install script; the installed bin then works from
// another directory.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const EXAMPLE = resolve(ROOT, 'config.env.example');
const tmp = mkdtempSync(join(tmpdir(), 'june-ts-pack-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ENV = {
  PATH: `${dirname(process.execPath)}:/usr/bin:/bin`,
  HOME: join(tmp, 'home'),
  npm_config_cache: join(tmp, 'empty-npm-cache'),
  npm_config_update_notifier: 'false',
  NO_COLOR: '1',
  HOST_HOSTNAME: 'june-host-1',
};
mkdirSync(ENV.HOME);

function run(cmd: string, args: string[], cwd: string) {
  const r = spawnSync(cmd, args, { cwd, env: ENV, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

describe('npm pack + npm install -g of the tarball, offline', () => {
  it('installs one package, runs no install script, and the CLI works from another directory', () => {
    const manifest = JSON.parse(readFileSync(resolve(ROOT, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(manifest.dependencies ?? {}).toEqual({});
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) expect(manifest.scripts).not.toHaveProperty(hook);

    const pack = run('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp], ROOT);
    expect(pack.code, pack.out).toBe(0);
    const tarball = join(tmp, pack.stdout.trim().split('\n').at(-1)!);
    expect(existsSync(tarball)).toBe(true);

    const prefix = join(tmp, 'prefix');
    const elsewhere = join(tmp, 'elsewhere');
    mkdirSync(elsewhere);
    const install = run('npm', ['install', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', tarball], elsewhere);
    expect(install.code, install.out).toBe(0);
    expect(install.out).toMatch(/added 1 package\b/);
    expect(install.out).not.toMatch(/install.scripts|prepare|postinstall/i);
    const installed = join(prefix, 'lib/node_modules/june-ts');
    expect(readdirSync(installed).sort()).toEqual(['README.md', 'bin', 'config.env.example', 'dist', 'helm', 'package.json']);
    expect(existsSync(join(installed, 'node_modules'))).toBe(false);
    expect(existsSync(join(installed, 'dist/meta.json'))).toBe(false);

    const bin = join(prefix, 'bin/june-ts');
    const help = run(bin, ['--help'], elsewhere);
    expect(help.code, help.out).toBe(0);
    expect(help.stdout).toContain('Usage: june-ts [options] [command]');
    const phases = run(bin, ['phases'], elsewhere);
    expect(phases.code, phases.out).toBe(0);
    expect(phases.stdout).toContain('11.2-headscale-sidecars/verify');
    // the charts come from the installed package (HEADSCALE_CHART's default is <package>/helm/…)
    const plan = run(bin, ['install', '--dry-run', '--config', EXAMPLE], elsewhere);
    expect(plan.code, plan.out).toBe(0);
    expect(plan.stdout).toContain('● 11.2-headscale-sidecars/keys');
    expect(plan.stdout).toContain(join(installed, 'helm/june-platform'));
  }, 180_000);
});
