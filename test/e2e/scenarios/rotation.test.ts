// Key rotation as a Headscale-and-Secret operation, against the real environment: a bad new
// key is caught by the key-check proof (Secret restored, old keys valid), cron-safe
// --if-expiring-within, twenty rotations in a row leave a bounded number of keys and no
// node behind, and --restart waits until the rollout has really finished.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRun, startScenario, type Scenario } from './harness.js';

type HsNode = { id: string | number; name: string; given_name?: string; online?: boolean; pre_auth_key?: { id?: string | number } | null };
type HsUser = { id: string | number; name: string };
type HsKey = { id: string | number; key?: string; expiration?: { seconds?: number } | string; user?: { name: string } | string };
const nameOf = (n: HsNode) => n.given_name ?? n.name;
const ROTATIONS = 20;

describe.skipIf(!canRun)('key rotation', () => {
  let s: Scenario;
  let minor: number;
  const nodes = async () => (await s.headscaleJson<HsNode[] | null>(['nodes', 'list'])) ?? [];
  const keysOf = async (user: string): Promise<HsKey[]> => {
    if (minor >= 28) {
      return ((await s.headscaleJson<HsKey[] | null>(['preauthkeys', 'list'])) ?? []).filter(
        (k) => (typeof k.user === 'string' ? k.user : k.user?.name) === user,
      );
    }
    const u = (await s.headscaleJson<HsUser[]>(['users', 'list'])).find((x) => x.name === user)!;
    return (await s.headscaleJson<HsKey[] | null>(['preauthkeys', 'list', '-u', minor >= 26 ? String(u.id) : u.name])) ?? [];
  };
  const expiresAt = (k: HsKey) => {
    const exp = k.expiration;
    return typeof exp === 'string' ? Date.parse(exp) : exp?.seconds !== undefined ? exp.seconds * 1000 : NaN;
  };
  const minted = async () => JSON.parse((await s.secret())!.annotations['june-ts.dev/minted-keys']!) as Record<string, string>;
  /** Expires a key in Headscale as an operator would (by id on 0.28+, by value before). */
  const expireInHeadscale = async (user: string, id: string, value: string) => {
    if (minor >= 28) return s.env.headscale.cli(['preauthkeys', 'expire', '--id', id, '--force']);
    const u = (await s.headscaleJson<HsUser[]>(['users', 'list'])).find((x) => x.name === user)!;
    return s.env.headscale.cli(['preauthkeys', 'expire', '-u', minor >= 26 ? String(u.id) : u.name, value]);
  };

  beforeAll(async () => {
    // the API transport expires old keys on every version; retention 0: retired keys go at once
    s = await startScenario('rotation', { HEADSCALE_TRANSPORT: 'api', KEY_RETENTION: '0h' });
    s.writeConfig({ HEADSCALE_API_KEY: s.env.headscale.apiKey });
    minor = Number(/^v0\.(\d+)/.exec(s.env.headscale.version)![1]);
    const r = await s.june(['install']);
    if (r.code !== 0) throw new Error(`install failed:\n${r.stderr}`);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('a new key that cannot register is caught by the proof: Secret restored, old keys valid, new key discarded, clear error', async () => {
    const before = await s.secret();
    const keysBefore = (await keysOf('june-idp')).map((k) => String(k.id)).sort();
    // pause when the proof starts (its first `nodes list`, after mint and Secret: the exec
    // transport makes it a command the recorder can hold) and expire the new key there
    const exec = s.writeConfig({ HEADSCALE_TRANSPORT: 'exec' }, `${s.dir}/exec.env`);
    const r = await s.juneWithPause(['rotate-keys', '--service', 'idp', '--config', exec], 'headscale nodes list', async () => {
      const now = await s.secret();
      await expireInHeadscale('june-idp', (await minted()).idp!, now!.data['june-idp-authkey']!);
    });
    expect(r.paused).toBe(true);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/phase rotate\/prove: the new key could not register a node:\n\s+idp: /);
    expect(r.stderr).toMatch(/the Secret was restored and the old keys stay valid/);
    const after = await s.secret();
    expect(after!.data).toEqual(before!.data);
    expect(after!.annotations['june-ts.dev/minted-keys']).toBe(before!.annotations['june-ts.dev/minted-keys']);
    const old = (await keysOf('june-idp')).find((k) => String(k.id) === JSON.parse(before!.annotations['june-ts.dev/minted-keys']!).idp);
    expect(expiresAt(old!)).toBeGreaterThan(Date.now());
    if (minor >= 28) {
      // the new key, held by nobody after the restore, was deleted
      expect(r.stderr).toMatch(
        /the 1 key\(s\) minted in this run \(idp\) are not in the restored Secret, so they were deleted in Headscale/,
      );
      expect((await keysOf('june-idp')).map((k) => String(k.id)).sort()).toEqual(keysBefore);
    }
    // no key-check pod or node is left behind
    expect(await s.env.kubectl(['-n', 'june-services', 'get', 'pods', '-l', 'june-ts.dev/key-check', '-o', 'name'])).toBe('');
    expect((await nodes()).filter((n) => /keycheck/.test(nameOf(n)))).toEqual([]);
  }, 240_000);

  it('--if-expiring-within: nothing happens while keys are fresh; a key due sooner rotates only its service', async () => {
    const before = await s.secret();
    const keysBefore = [...(await keysOf('june-idp')), ...(await keysOf('june-orchestrator'))].length;
    const idle = await s.june(['rotate-keys', '--if-expiring-within', '30d']);
    expect(idle.code, idle.stderr).toBe(0);
    expect(idle.stderr.trim().split('\n')).toEqual(['✓ no key expires within 30d: nothing to rotate (orchestrator, idp)']);
    expect((await s.secret())!.resourceVersion).toBe(before!.resourceVersion);
    expect([...(await keysOf('june-idp')), ...(await keysOf('june-orchestrator'))].length).toBe(keysBefore);

    // give idp a key that expires in 10 days
    const short = await s.june(['rotate-keys', '--service', 'idp'], {
      config: s.writeConfig(
        { HEADSCALE_API_KEY: s.env.headscale.apiKey, KEY_EXPIRATION: '10d', KEY_RENEW_BEFORE: '1d' },
        `${s.dir}/short.env`,
      ),
    });
    expect(short.code, short.stderr).toBe(0);
    const mid = await s.secret();
    const due = await s.june(['rotate-keys', '--if-expiring-within', '30d']);
    expect(due.code, due.stderr).toBe(0);
    expect(due.stderr).toMatch(/idp: the key expires in 9 day\(s\), within the renewal margin/);
    expect(due.stderr).toMatch(/keys rotated for idp\n/);
    const after = await s.secret();
    expect(after!.data['june-orchestrator-authkey']).toBe(mid!.data['june-orchestrator-authkey']);
    expect(after!.data['june-idp-authkey']).not.toBe(mid!.data['june-idp-authkey']);
  }, 240_000);

  it(`${ROTATIONS} rotations in a row: a bounded number of keys per service, no new node, nothing left behind`, async () => {
    const nodesBefore = (await nodes()).map((n) => String(n.id)).sort();
    for (let i = 0; i < ROTATIONS; i++) {
      const r = await s.june(['rotate-keys', '--service', 'idp']);
      expect(r.code, `rotation ${i + 1}: ${r.stderr}`).toBe(0);
    }
    const keys = await keysOf('june-idp');
    if (minor >= 28) {
      // retention 0h: each rotation deletes the key it retired; only the current key is left
      expect(keys.length).toBeLessThanOrEqual(1);
    } else {
      // 0.23–0.27 cannot delete keys: one expired key per rotation stays (documented)
      expect(keys.filter((k) => expiresAt(k) > Date.now())).toHaveLength(1);
    }
    expect((await nodes()).map((n) => String(n.id)).sort()).toEqual(nodesBefore);
    expect(await s.env.kubectl(['-n', 'june-services', 'get', 'pods', '-l', 'june-ts.dev/key-check', '-o', 'name'])).toBe('');
    const status = await s.june(['status']);
    expect(status.code, status.stdout + status.stderr).toBe(0);
  }, 600_000);

  it('--restart re-registers the sidecars and waits until the rollout has finished; nodes keep their ids', async () => {
    const before = (await nodes())
      .filter((n) => /^june-(idp|orchestrator)$/.test(nameOf(n)))
      .map((n) => `${nameOf(n)}=${n.id}`)
      .sort();
    const r = await s.june(['rotate-keys', '--restart']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/allows no surge .*down from the moment its old pod stops until the new one is Ready/);
    // no old pod is left when june-ts returns, and everything is green at once
    const pods = JSON.parse(await s.env.kubectl(['-n', 'june-services', 'get', 'pods', '-o', 'json'])) as {
      items: { metadata: { deletionTimestamp?: string } }[];
    };
    expect(pods.items.filter((p) => p.metadata.deletionTimestamp)).toEqual([]);
    const status = await s.june(['status']);
    expect(status.code, status.stdout + status.stderr).toBe(0);
    const after = (await nodes())
      .filter((n) => /^june-(idp|orchestrator)$/.test(nameOf(n)))
      .map((n) => `${nameOf(n)}=${n.id}`)
      .sort();
    expect(after).toEqual(before);
  }, 300_000);
});
