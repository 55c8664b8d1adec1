// The REST transport against answers recorded from the real binaries (fixtures/<v>/api,
// recorded by fixtures/record.sh with curl): paths and bodies per version, detection,
// 401 / 0.2x's 500 "Unauthorized", secrets, dry-run.
import { describe, expect, it } from 'vitest';
import { ExternalError, UsageError } from '../../../src/errors.js';
import { createHeadscaleClient, DRY_RUN_KEY, OfflineHeadscale, type HsUser } from '../../../src/headscale/index.js';
import { WriteGate, type PlanEntry } from '../../../src/write-gate.js';
import { redact } from '../../../src/ui/redact.js';
import { apiAnswer, fx, GENERATION, VERSIONS, type FixtureVersion } from './fixtures.js';

const URL_ = 'https://headscale.test';
const API_KEY = 'tEsTpReF1x.api-key-secret-value-0123456789';

interface Seen {
  method: string;
  path: string;
  auth?: string;
  body?: unknown;
}

type Answer = { status: number; body: string };

/** fetch that answers from a table of `METHOD /path` → answer (each used once unless `*`) and records calls. */
function fakeFetch(table: [string, Answer | (() => Answer)][]) {
  const seen: Seen[] = [];
  const rules = table.map(([k, a]) => ({ key: k.replace(/^\*/, ''), sticky: k.startsWith('*'), answer: a, used: false }));
  const fn = (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(String(input));
    const path = url.pathname + url.search;
    const method = init?.method ?? 'GET';
    const headers = (init?.headers ?? {}) as Record<string, string>;
    seen.push({ method, path, auth: headers.Authorization, body: init?.body ? JSON.parse(String(init.body)) : undefined });
    const rule = rules.find((r) => r.key === `${method} ${path}` && (r.sticky || !r.used));
    if (!rule) throw new Error(`fakeFetch: unexpected ${method} ${path}`);
    rule.used = true;
    const a = typeof rule.answer === 'function' ? rule.answer() : rule.answer;
    return new Response(a.body, { status: a.status });
  }) as typeof fetch;
  return { fn, seen };
}

/** The detection answers of a version: GET /version, and the OpenAPI document where /version is 404. */
function detection(v: FixtureVersion): [string, Answer][] {
  const rows: [string, Answer][] = [['GET /version', apiAnswer(v, 'version')]];
  if (GENERATION[v] !== 'v028') rows.push(['GET /swagger/v1/openapiv2.json', { status: 200, body: fx(v, 'api/openapi-trimmed.json') }]);
  return rows;
}

function api(f: typeof fetch, gate = new WriteGate('off')) {
  return createHeadscaleClient({ transport: 'api', gate, url: `${URL_}/`, apiKey: API_KEY, fetch: f });
}

const ok = (body: unknown): Answer => ({ status: 200, body: JSON.stringify(body) });

describe.each(VERSIONS)('API transport, Headscale %s (recorded)', (v) => {
  const gen = GENERATION[v];
  const beta: HsUser = { id: '2', name: 'june-beta' };

  it('detects the version: /version on 0.29, the OpenAPI document before', async () => {
    const { fn, seen } = fakeFetch(detection(v));
    const version = await api(fn).version();
    expect(version.generation).toBe(gen);
    if (gen === 'v028') expect(version).toMatchObject({ raw: v, minor: 29, source: 'reported' });
    else expect(version).toMatchObject({ source: 'probed', minor: gen === 'v023' ? 23 : 26 });
    expect(seen.every((s) => s.auth === undefined)).toBe(true); // anonymous endpoints
  });

  it('ensureUsers: GET then POST /api/v1/user {name}, bearer auth', async () => {
    const { fn, seen } = fakeFetch([
      ...detection(v),
      ['GET /api/v1/user', apiAnswer(v, 'user-list')],
      ['POST /api/v1/user', apiAnswer(v, 'user-create')],
    ]);
    const users = await api(fn).ensureUsers(['june-alpha', 'june-beta']);
    expect(users).toEqual([{ id: '1', name: 'june-alpha' }, beta]);
    const calls = seen.filter((s) => s.path.startsWith('/api/'));
    expect(calls.map((s) => `${s.method} ${s.path}`)).toEqual(['GET /api/v1/user', 'POST /api/v1/user']);
    expect(calls[1]?.body).toEqual({ name: 'june-beta' });
    expect(calls.every((s) => s.auth === `Bearer ${API_KEY}`)).toBe(true);
  });

  it('createPreAuthKey: user NAME (0.23) or ID (0.26+), absolute expiration', async () => {
    const { fn, seen } = fakeFetch([...detection(v), ['POST /api/v1/preauthkey', apiAnswer(v, 'preauthkey-create')]]);
    const before = Date.now();
    const key = await api(fn).createPreAuthKey(beta, { reusable: true, expiration: '180d' });
    const body = seen.at(-1)?.body as { user: string; reusable: boolean; ephemeral: boolean; expiration: string };
    expect(body.user).toBe(gen === 'v023' ? 'june-beta' : '2');
    expect(body).toMatchObject({ reusable: true, ephemeral: false });
    expect((Date.parse(body.expiration) - before) / 86_400_000).toBeCloseTo(180, 3);
    const expected = (JSON.parse(fx(v, 'api/preauthkey-create.json')) as { preAuthKey: { key: string } }).preAuthKey.key;
    expect(key).toMatchObject({ id: '3', user: 'june-beta', key: expected });
    expect(redact(expected)).toBe('<redacted>');
    expect(seen.map((s) => s.path).join(' ')).not.toContain(expected);
  });

  it('listPreAuthKeys: ?user=NAME (0.23), ?user=ID (0.26), unfiltered once (0.28+)', async () => {
    const users = [{ id: '1', name: 'june-alpha' }, beta];
    const table: [string, Answer][] = [...detection(v)];
    if (gen === 'v028') table.push(['GET /api/v1/preauthkey', apiAnswer(v, 'preauthkey-list')]);
    else {
      const q = (u: HsUser) => (gen === 'v023' ? u.name : u.id);
      table.push([`GET /api/v1/preauthkey?user=${q(users[0]!)}`, ok({ preAuthKeys: [] })]);
      table.push([`GET /api/v1/preauthkey?user=${q(users[1]!)}`, apiAnswer(v, 'preauthkey-list')]);
    }
    const { fn, seen } = fakeFetch(table);
    const keys = await api(fn).listPreAuthKeys(users);
    expect(seen.filter((s) => s.path.startsWith('/api/v1/preauthkey'))).toHaveLength(gen === 'v028' ? 1 : 2);
    const k3 = keys.find((k) => k.id === '3');
    expect(k3?.user).toBe('june-beta');
    if (gen === 'v028') {
      expect(k3?.key).toBeUndefined();
      expect(k3?.keyPrefix).toMatch(/^hskey-auth-/);
      expect(keys.map((k) => k.id).sort()).toEqual(['1', '2', '3']);
    } else expect(k3?.key).toMatch(/^[0-9a-f]{48}$/);
  });

  it('expirePreAuthKey: {id} on 0.28+, {user, key} in the BODY before', async () => {
    const listed = (JSON.parse(fx(v, 'api/preauthkey-list.json')) as { preAuthKeys: { id: string; key: string }[] }).preAuthKeys.find(
      (k) => k.id === '3',
    )!;
    const table: [string, Answer][] = [...detection(v), ['POST /api/v1/preauthkey/expire', ok({})]];
    if (gen === 'v026')
      table.push([
        'GET /api/v1/user',
        ok({
          users: [
            { id: '1', name: 'june-alpha' },
            { id: '2', name: 'june-beta' },
          ],
        }),
      ]);
    const { fn, seen } = fakeFetch(table);
    const key = { id: '3', user: 'june-beta', key: gen === 'v028' ? undefined : listed.key, reusable: true, ephemeral: false, used: false };
    await api(fn).expirePreAuthKey(key);
    const call = seen.find((s) => s.path === '/api/v1/preauthkey/expire');
    expect(call?.method).toBe('POST');
    expect(call?.body).toEqual(gen === 'v028' ? { id: '3' } : { user: gen === 'v023' ? 'june-beta' : '2', key: listed.key });
  });

  it('expiring a key that was listed without its value is a UsageError before 0.28', async () => {
    if (gen === 'v028') return;
    const { fn } = fakeFetch(detection(v));
    await expect(
      api(fn).expirePreAuthKey({ id: '3', user: 'june-beta', reusable: true, ephemeral: false, used: false }),
    ).rejects.toBeInstanceOf(UsageError);
  });

  it('deleteUser: /user/{name} on 0.23, /user/{id} after', async () => {
    const path = gen === 'v023' ? '/api/v1/user/june-beta' : '/api/v1/user/2';
    const { fn, seen } = fakeFetch([...detection(v), [`DELETE ${path}`, apiAnswer(v, 'user-delete')]]);
    await api(fn).deleteUser(beta);
    expect(seen.at(-1)).toMatchObject({ method: 'DELETE', path });
  });

  it('listNodes and deleteNode; a missing node is a clear error', async () => {
    const { fn } = fakeFetch([
      ...detection(v),
      ['GET /api/v1/node', apiAnswer(v, 'node-list')],
      ['DELETE /api/v1/node/99', apiAnswer(v, 'node-delete-missing')],
    ]);
    const hs = api(fn);
    const [node] = await hs.listNodes();
    expect(node).toMatchObject({ id: '1', name: 'june-node', user: 'june-alpha' });
    const err = await hs.deleteNode('99').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalError);
    expect((err as Error).message).toMatch(
      new RegExp(
        `^DELETE /api/v1/node/99 failed \\(Headscale .+, HTTP ${apiAnswer(v, 'node-delete-missing').status}\\): (node not found|record not found)$`,
      ),
    );
  });

  it('a wrong API key: 401 on 0.29, 500 "Unauthorized" before — both a clear error, nothing created', async () => {
    const { fn, seen } = fakeFetch([...detection(v), ['*GET /api/v1/user', apiAnswer(v, 'wrong-key')]]);
    const err = await api(fn)
      .ensureUsers(['june-new'])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalError);
    expect((err as Error).message).toMatch(/^Headscale rejected the API key \((401|HTTP 500 "Unauthorized")\) — check HEADSCALE_API_KEY$/);
    expect((err as Error).message).not.toContain(API_KEY);
    expect(seen.some((s) => s.method === 'POST')).toBe(false);
  });

  it('a duplicate user answered by the server is tolerated by ensureUsers', async () => {
    const { fn } = fakeFetch([
      ...detection(v),
      ['GET /api/v1/user', ok({ users: [] })],
      ['POST /api/v1/user', apiAnswer(v, 'user-create-duplicate')],
      ['GET /api/v1/user', apiAnswer(v, 'user-list')],
    ]);
    expect(await api(fn).ensureUsers(['june-alpha'])).toEqual([{ id: '1', name: 'june-alpha' }]);
  });

  it('health: /health pass, then the key is checked', async () => {
    const { fn, seen } = fakeFetch([
      ...detection(v),
      ['GET /health', apiAnswer(v, 'health')],
      ['GET /api/v1/user', apiAnswer(v, 'user-list')],
    ]);
    await api(fn).health();
    expect(seen.map((s) => s.path)).toContain('/health');
  });

  it('dry-run records writes and sends no write request', async () => {
    const gate = new WriteGate('live');
    const plan: PlanEntry[] = [];
    const { fn, seen } = fakeFetch([...detection(v), ['GET /api/v1/user', ok({ users: [] })]]);
    const hs = api(fn, gate);
    await gate.collect(plan, async () => {
      const [u] = await hs.ensureUsers(['june-new']);
      expect((await hs.createPreAuthKey(u!, { reusable: true, expiration: '180d' })).key).toBe(DRY_RUN_KEY);
      await hs.deleteUser({ id: '5', name: 'june-old' });
    });
    expect(plan.map((e) => (e.kind === 'headscale' ? e.action : ''))).toEqual(['create user', 'create preauthkey', 'delete user']);
    expect(seen.filter((s) => s.method !== 'GET')).toEqual([]);
  });
});

describe('API transport: errors', () => {
  it('garbage body → ExternalError naming the request and version', async () => {
    const { fn } = fakeFetch([...detection('v0.29.2'), ['GET /api/v1/user', { status: 200, body: 'users: none' }]]);
    await expect(api(fn).listUsers()).rejects.toThrow(/^unexpected output from `GET \/api\/v1\/user` \(Headscale v0\.29\.2\): not JSON/);
  });

  it('an HTML page (an ingress or proxy answering instead of Headscale) → says so, with its title and status, at any status', async () => {
    const page = '<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>';
    const { fn } = fakeFetch([...detection('v0.29.2'), ['GET /api/v1/user', { status: 200, body: page }]]);
    await expect(api(fn).listUsers()).rejects.toThrow(
      `${URL_} answered with an HTML page (HTTP 200, "502 Bad Gateway"), not Headscale's JSON (GET /api/v1/user): HEADSCALE_API_URL reaches a proxy or ingress page, not Headscale`,
    );
    const down = fakeFetch([['GET /version', { status: 503, body: '<html><body>Service Unavailable</body></html>' }]]);
    const err = (await api(down.fn)
      .health()
      .catch((e: unknown) => e)) as ExternalError;
    expect(err).toBeInstanceOf(ExternalError);
    expect(err.message).toMatch(/answered with an HTML page \(HTTP 503\), not Headscale's JSON \(GET \/version\)/);
    expect(err.hint).toMatch(/HEADSCALE_API_URL/);
  });

  it('unreachable server → ExternalError with a hint', async () => {
    const fn = (async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
    }) as typeof fetch;
    const err = await api(fn)
      .health()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalError);
    expect((err as Error).message).toBe(`cannot reach Headscale at ${URL_} (GET /version): ECONNREFUSED`);
    expect((err as ExternalError).hint).toMatch(/HEADSCALE_API_URL/);
  });

  it('the API key is registered with the redactor at construction', () => {
    api(fakeFetch([]).fn);
    expect(redact(`Authorization: Bearer ${API_KEY}`)).toBe('Authorization: Bearer <redacted>');
  });

  it('no key or a bad URL is a UsageError', () => {
    expect(() => createHeadscaleClient({ transport: 'api', gate: new WriteGate('off'), url: URL_, apiKey: '' })).toThrow(UsageError);
    expect(() => createHeadscaleClient({ transport: 'api', gate: new WriteGate('off'), url: 'headscale:8080', apiKey: API_KEY })).toThrow(
      UsageError,
    );
  });
});

describe('OfflineHeadscale', () => {
  it('reads are empty, writes are recorded', async () => {
    const gate = new WriteGate('static');
    const plan: PlanEntry[] = [];
    const hs = new OfflineHeadscale(gate, '0.26.1');
    expect(await hs.version()).toMatchObject({ minor: 26, generation: 'v026', source: 'assumed' });
    await hs.health();
    await gate.collect(plan, async () => {
      expect(await hs.listUsers()).toEqual([]);
      expect(await hs.listNodes()).toEqual([]);
      const users = await hs.ensureUsers(['june-a', 'june-b']);
      expect(await hs.listPreAuthKeys(users)).toEqual([]);
      expect((await hs.createPreAuthKey(users[0]!, { reusable: true, expiration: '180d' })).key).toBe(DRY_RUN_KEY);
    });
    expect(plan).toEqual([
      { kind: 'headscale', action: 'create user', args: { name: 'june-a' } },
      { kind: 'headscale', action: 'create user', args: { name: 'june-b' } },
      { kind: 'headscale', action: 'create preauthkey', args: { user: 'june-a', reusable: true, ephemeral: false, expiration: '180d' } },
    ]);
  });

  it('refuses to act when the gate is not in dry-run', async () => {
    const hs = new OfflineHeadscale(new WriteGate('off'));
    await expect(hs.deleteNode('1')).rejects.toThrow(/only for dry-run/);
  });
});
