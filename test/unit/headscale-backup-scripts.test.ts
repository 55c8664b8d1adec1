// The backup pod's scripts, run by the host's sh and sqlite3 on a directory standing in for
// the volume (the paths rewritten), as the pod runs them. Skipped where sqlite3 is missing.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  backupName,
  backupScript,
  listScript,
  parseSha256,
  readFileScript,
  restoreScript,
  writeFileScript,
} from '../../src/domain/headscale-backup.js';
import { HEADSCALE_DATA_DIR } from '../../src/names.js';

const hasSqlite = spawnSync('sqlite3', ['-version']).status === 0;
let data = '';

function sh(script: string, input?: string): { code: number; out: string; err: string } {
  const r = spawnSync('sh', ['-c', script.replaceAll(HEADSCALE_DATA_DIR, data)], { input, encoding: 'utf8' });
  return { code: r.status ?? 1, out: r.stdout, err: r.stderr };
}
const sql = (q: string) => execFileSync('sqlite3', [join(data, 'db.sqlite'), q], { encoding: 'utf8' }).trim();

beforeEach(() => {
  data = mkdtempSync(join(tmpdir(), 'june-ts-hs-volume-'));
  sql("PRAGMA journal_mode=WAL; CREATE TABLE users(name TEXT); INSERT INTO users VALUES ('june-orchestrator'), ('june-host');");
  writeFileSync(join(data, 'noise_private.key'), 'privkey:abc\n');
});
afterEach(() => rmSync(data, { recursive: true, force: true }));

describe.skipIf(!hasSqlite)('backup and restore scripts (host sh + sqlite3)', () => {
  const name = backupName('0.26.1', new Date('2026-12-01T06:15:00.123Z'));

  it('names a backup by time and the version that wrote the database', () => {
    expect(name).toBe('20261201T061500Z-v0.26.1');
  });

  it('backs up a consistent copy with its key, prints the hashes; a restore puts it back and drops the WAL', () => {
    const taken = sh(backupScript(name));
    expect(taken.code, taken.err).toBe(0);
    const sums = parseSha256(taken.out);
    expect(Object.keys(sums).sort()).toEqual(['db.sqlite', 'noise_private.key']);
    const dir = join(data, 'backups', name);
    expect(execFileSync('sqlite3', [join(dir, 'db.sqlite'), 'SELECT count(*) FROM users'], { encoding: 'utf8' }).trim()).toBe('2');
    expect(parseSha256(sh(listScript(name)).out)).toEqual(sums);
    expect(sh(listScript('no-such-backup'))).toMatchObject({ code: 0, out: '' });
    // base64 over exec round-trips the bytes
    expect(Buffer.from(sh(readFileScript(name, 'noise_private.key')).out, 'base64').toString()).toBe('privkey:abc\n');

    sql("DELETE FROM users; INSERT INTO users VALUES ('someone-else');");
    writeFileSync(join(data, 'noise_private.key'), 'privkey:other\n');
    writeFileSync(join(data, 'db.sqlite-wal'), 'stale');
    const restored = sh(restoreScript(name));
    expect(restored.code, restored.err).toBe(0);
    expect(parseSha256(restored.out)).toEqual(sums);
    expect(existsSync(join(data, 'db.sqlite-wal'))).toBe(false);
    expect(sql('SELECT name FROM users ORDER BY name')).toBe('june-host\njune-orchestrator');
    expect(readFileSync(join(data, 'noise_private.key'), 'utf8')).toBe('privkey:abc\n');
  });

  it("restores the operator's copy written through stdin", () => {
    const db = readFileSync(join(data, 'db.sqlite'));
    const other = 'from-elsewhere';
    expect(sh(writeFileScript(other, 'db.sqlite'), db.toString('base64')).code).toBe(0);
    expect(sh(writeFileScript(other, 'noise_private.key'), Buffer.from('k2\n').toString('base64')).code).toBe(0);
    sql('DELETE FROM users');
    expect(sh(restoreScript(other)).code).toBe(0);
    expect(sql('SELECT count(*) FROM users')).toBe('2');
    expect(readFileSync(join(data, 'noise_private.key'), 'utf8')).toBe('k2\n');
  });

  it('fails without a database or without the backup, changing nothing', () => {
    rmSync(join(data, 'db.sqlite'));
    expect(sh(backupScript(name))).toMatchObject({ code: 3, err: expect.stringContaining('no database at') });
    expect(sh(restoreScript('missing'))).toMatchObject({ code: 3, err: expect.stringContaining('no backup at') });
    expect(readFileSync(join(data, 'noise_private.key'), 'utf8')).toBe('privkey:abc\n');
  });
});
