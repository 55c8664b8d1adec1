// The dialects without a wire: what each generation is asked (argv, REST request) and
// how its recorded answers (fixtures/<version>, recorded by fixtures/record.sh) are read.
import { describe, expect, it } from 'vitest';
import { BugError, ExternalError, UsageError } from '../../../src/errors.js';
import { TAG_OWNED_KEYS_SINCE, dialectOf, generationFromHelp, generationFromOpenApi } from '../../../src/headscale/dialects.js';
import type { CliCall, HttpCall } from '../../../src/headscale/dialects/request.js';
import { parseAnswer } from '../../../src/headscale/schemas.js';
import type { HsUser } from '../../../src/headscale/types.js';
import { redact } from '../../../src/ui/redact.js';
import { fx, fxTagged, GENERATION, VERSIONS } from './fixtures.js';

/** Read `text` as the answer to `call`, as a wire does. */
function read<T>(call: CliCall<T> | HttpCall<T> | undefined, text: string): T {
  const ctx = { command: 'recorded', version: 'test' };
  if (!call?.read) throw new Error('this call reads no answer');
  return call.read(parseAnswer(text, ctx), ctx, text);
}

const alpha: HsUser = { id: '1', name: 'june-alpha' };
const beta: HsUser = { id: '2', name: 'june-beta' };
const NEW_KEY = { reusable: true, ephemeral: false, expiration: '180d', expiresAt: new Date('2030-01-01T00:00:00Z') };

describe.each(VERSIONS)('dialect of Headscale %s', (v) => {
  const gen = GENERATION[v];
  const d = dialectOf(gen);
  const ref = (u: HsUser) => (gen === 'v023' ? u.name : u.id);

  it('is recognised from its help text and from its OpenAPI document', () => {
    expect(generationFromHelp(fx(v, 'cli/preauthkeys-expire-help.txt'))).toBe(gen);
    const doc = JSON.parse(fx(v, 'api/openapi-trimmed.json')) as { definitions: Record<string, never> };
    expect(generationFromOpenApi(doc.definitions)).toBe(gen);
  });

  it('refers to a user by name (0.23) or by numeric id (0.26+)', () => {
    expect(d.userRef(alpha)).toBe(ref(alpha));
    const unsaved = { id: '(dry-run)', name: 'june-alpha' };
    if (gen === 'v023') expect(d.userRef(unsaved)).toBe('june-alpha');
    else expect(() => d.userRef(unsaved)).toThrow(UsageError);
  });

  it('users: list and create, read from both wires', () => {
    expect(d.listUsers().cli?.args).toEqual(['users', 'list', '-o', 'json']);
    expect(read(d.listUsers().cli, fx(v, 'cli/users-list.json'))).toEqual([alpha]);
    expect(read(d.listUsers().http, fx(v, 'api/user-list.json'))).toEqual([alpha]);
    expect(d.createUser('june-alpha').cli?.args).toEqual(['users', 'create', 'june-alpha', '-o', 'json']);
    expect(d.createUser('june-beta').http).toMatchObject({ method: 'POST', path: '/api/v1/user', body: { name: 'june-beta' } });
    expect(read(d.createUser('june-alpha').cli, fx(v, 'cli/users-create.json'))).toEqual(alpha);
  });

  it('keys are listed per user before 0.28, all at once after', () => {
    expect(d.listsKeysPerUser).toBe(gen !== 'v028');
    const perUser = d.listKeys(alpha);
    expect(perUser.cli?.args).toEqual(['preauthkeys', 'list', '-u', ref(alpha), '-o', 'json']);
    expect(perUser.http.path).toBe(`/api/v1/preauthkey?user=${ref(alpha)}`);
    expect(d.listKeys().cli?.args).toEqual(['preauthkeys', 'list', '-o', 'json']);
    expect(d.listKeys().http.path).toBe('/api/v1/preauthkey');
    const keys = read(perUser.cli, fx(v, 'cli/preauthkeys-list.json'));
    expect(keys.map((k) => [k.id, k.user])).toEqual([
      ['1', 'june-alpha'],
      ['2', 'june-alpha'],
    ]);
    if (gen === 'v028') {
      expect(keys[0]?.key).toBeUndefined();
      expect(keys[0]?.keyPrefix).toMatch(/^hskey-auth-/);
    } else expect(keys[0]?.key).toMatch(/^[0-9a-f]{48}$/);
    // 0.23 names the owner in the JSON; listed per user, the owner is known anyway
    expect(read(d.listKeys(beta).http, fx(v, 'api/preauthkey-list.json')).find((k) => k.id === '3')?.user).toBe('june-beta');
  });

  it('createKey: a duration on the CLI, an absolute time over the API; the full key is read and redacted', () => {
    const req = d.createKey(alpha, NEW_KEY);
    expect(req.cli?.args).toEqual(['preauthkeys', 'create', '-u', ref(alpha), '--reusable', '--expiration', '180d', '-o', 'json']);
    expect(d.createKey(alpha, { ...NEW_KEY, reusable: false, ephemeral: true }).cli?.args).toContain('--ephemeral');
    expect(req.http).toMatchObject({ method: 'POST', path: '/api/v1/preauthkey' });
    expect(req.http.body).toEqual({ user: ref(alpha), reusable: true, ephemeral: false, expiration: '2030-01-01T00:00:00.000Z' });
    const key = read(req.cli, fx(v, 'cli/preauthkeys-create.json'));
    expect(key).toMatchObject({ id: '1', user: 'june-alpha', reusable: true });
    expect(redact(key.key)).toBe('<redacted>');
    expect(() => read(req.cli, JSON.stringify({ id: 9, reusable: true }))).toThrow(ExternalError);
  });

  it('expireKey: by --id on 0.28+; by value before, and then only in a request body', () => {
    const key = { id: '3', user: 'june-beta', key: 'f'.repeat(48), reusable: true, ephemeral: false, used: false };
    const req = d.expireKey(key, beta);
    expect(req.http).toMatchObject({ method: 'POST', path: '/api/v1/preauthkey/expire' });
    if (gen === 'v028') {
      expect(d.expiresKeysByValue).toBe(false);
      expect(req.cli?.args).toEqual(['preauthkeys', 'expire', '--id', '3', '-o', 'json']);
      expect(req.http.body).toEqual({ id: '3' });
    } else {
      expect(d.expiresKeysByValue).toBe(true);
      expect(req.cli).toBeUndefined(); // no argv form: the key would be on the command line
      expect(req.http.body).toEqual({ user: ref(beta), key: key.key });
    }
  });

  it('deleteUser: NAME on 0.23, --identifier ID / the id in the path after', () => {
    const req = d.deleteUser(beta);
    expect(req.cli?.args).toEqual(
      gen === 'v023'
        ? ['users', 'destroy', 'june-beta', '--force', '-o', 'json']
        : ['users', 'destroy', '--identifier', '2', '--force', '-o', 'json'],
    );
    expect(req.http).toMatchObject({ method: 'DELETE', path: `/api/v1/user/${ref(beta)}` });
  });

  it('nodes: list from both wires, delete by id', () => {
    expect(read(d.listNodes().cli, fx(v, 'cli/nodes-list.json'))[0]).toMatchObject({ id: '1', user: 'june-alpha' });
    expect(read(d.listNodes().http, fx(v, 'api/node-list.json'))[0]).toMatchObject({ id: '1', user: 'june-alpha' });
    expect(d.deleteNode('7').cli?.args).toEqual(['nodes', 'delete', '-i', '7', '--force', '-o', 'json']);
    expect(d.deleteNode('7').http).toMatchObject({ method: 'DELETE', path: '/api/v1/node/7' });
  });

  it('health: `headscale health` on 0.28+, `users list` before; GET /health without the key', () => {
    const req = d.health();
    expect(req.cli?.args).toEqual(gen === 'v028' ? ['health', '-o', 'json'] : ['users', 'list', '-o', 'json']);
    expect(req.http).toMatchObject({ method: 'GET', path: '/health', anonymous: true });
    expect(() => read(req.http, fx(v, 'api/health.json'))).not.toThrow();
    expect(() => read(req.http, '{"status":"fail","output":"database"}')).toThrow(/Headscale is not healthy: \/health says "fail"/);
  });
});

describe('tag-owned keys (TAILNET_IDENTITY=tag)', () => {
  const tag = { tag: 'tag:june-alpha' };

  it('only 0.28+ mints them; older dialects refuse to build the request', () => {
    expect(TAG_OWNED_KEYS_SINCE).toBe('0.28+');
    expect(dialectOf('v028').ownsKeysByTag).toBe(true);
    for (const gen of ['v023', 'v026'] as const) {
      expect(dialectOf(gen).ownsKeysByTag).toBe(false);
      expect(() => dialectOf(gen).createKey(tag, NEW_KEY)).toThrow(BugError);
    }
  });

  it('0.28+: `--tags` without `-u` on the CLI, `aclTags` without `user` over the API; read from both wires', () => {
    const req = dialectOf('v028').createKey(tag, NEW_KEY);
    expect(req.cli?.args).toEqual([
      'preauthkeys',
      'create',
      '--tags',
      'tag:june-alpha',
      '--reusable',
      '--expiration',
      '180d',
      '-o',
      'json',
    ]);
    expect(req.http).toMatchObject({ method: 'POST', path: '/api/v1/preauthkey' });
    expect(req.http.body).toEqual({
      aclTags: ['tag:june-alpha'],
      reusable: true,
      ephemeral: false,
      expiration: '2030-01-01T00:00:00.000Z',
    });
    const cli = read(req.cli, fxTagged('cli/preauthkeys-create-tagged.json'));
    expect(cli).toMatchObject({ id: '4', user: '', reusable: true, aclTags: ['tag:june-alpha'] });
    expect(cli.key).toMatch(/^hskey-auth-/);
    expect(redact(cli.key)).toBe('<redacted>');
    const api = read(req.http, fxTagged('api/preauthkey-create-tagged.json'));
    expect(api).toMatchObject({ id: '5', user: '', aclTags: ['tag:june-beta'] });
  });

  it('0.28+: a listed tag-owned key has no user and its tags; a tagged node is owned by its tags (its user is a placeholder)', () => {
    const d = dialectOf('v028');
    const keys = read(d.listKeys().cli, fxTagged('cli/preauthkeys-list-tagged.json'));
    expect(keys.filter((k) => k.aclTags).map((k) => [k.id, k.user, k.aclTags])).toEqual([
      ['4', '', ['tag:june-alpha']],
      ['5', '', ['tag:june-beta']],
    ]);
    expect(keys.filter((k) => !k.aclTags).every((k) => k.user === 'june-alpha')).toBe(true);
    for (const nodes of [
      read(d.listNodes().cli, fxTagged('cli/nodes-list-tagged.json')),
      read(d.listNodes().http, fxTagged('api/node-list-tagged.json')),
    ]) {
      expect(nodes.map((n) => [n.id, n.name, n.user, n.tags])).toEqual([['1', 'june-node', 'tagged-devices', ['tag:june-alpha']]]);
      expect(nodes[0]!.expiry).toBeUndefined();
    }
  });

  it('nodes of 0.23–0.27 carry no tags', () => {
    for (const v of ['v0.23.0', 'v0.26.1'] as const) {
      for (const n of read(dialectOf(GENERATION[v]).listNodes().cli, fx(v, 'cli/nodes-list.json'))) expect(n.tags).toBeUndefined();
    }
  });
});

describe('recognising a generation', () => {
  it('unknown help text or OpenAPI document → undefined, not a guess', () => {
    expect(generationFromHelp('Usage: something else')).toBeUndefined();
    expect(generationFromOpenApi({})).toBeUndefined();
  });
});
