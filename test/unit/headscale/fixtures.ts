// Access to the fixtures recorded from the real headscale binaries by fixtures/record.sh.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
export const VERSIONS = ['v0.23.0', 'v0.26.1', 'v0.29.2'] as const;
export type FixtureVersion = (typeof VERSIONS)[number];
export const GENERATION = { 'v0.23.0': 'v023', 'v0.26.1': 'v026', 'v0.29.2': 'v028' } as const;

/**
 * Answers about tag identities, recorded by the same script from v0.29.3 (fixtures/v0.29.3
 * holds only these `*-tagged*` files; everything else it answers is as v0.29.2's).
 */
export function fxTagged(path: string): string {
  return readFileSync(join(ROOT, 'v0.29.3', path), 'utf8');
}

/** Text of fixtures/<version>/<path>. */
export function fx(version: FixtureVersion, path: string): string {
  return readFileSync(join(ROOT, version, path), 'utf8');
}

/** A recorded CLI run: stdout, stderr and exit code, as FakeRunner answers. */
export function cliRun(version: FixtureVersion, name: string): { stdout: string; stderr: string; exitCode: number } {
  const read = (ext: string) => {
    try {
      return fx(version, `cli/${name}.${ext}`);
    } catch {
      return undefined;
    }
  };
  const stdout = read('json') ?? read('txt') ?? '';
  const exit = read('exit');
  return { stdout, stderr: read('stderr') ?? '', exitCode: exit ? Number(exit.trim()) : 0 };
}

/** A recorded API answer. */
export function apiAnswer(version: FixtureVersion, name: string): { status: number; body: string } {
  return { status: Number(fx(version, `api/${name}.status`).trim()), body: fx(version, `api/${name}.json`) };
}
