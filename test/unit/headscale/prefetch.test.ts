import { describe, expect, it } from 'vitest';
import { Headscale, type Wire } from '../../../src/headscale/client.js';
import type { Request } from '../../../src/headscale/dialects/request.js';
import { readOnce } from '../../../src/headscale/read-once.js';
import { assumedVersion } from '../../../src/headscale/types.js';
import { WriteGate } from '../../../src/write-gate.js';

/** A wire that answers each GET with a numbered answer, so a test sees which read served a caller. */
class CountingWire implements Wire {
  sent: string[] = [];
  private seq = 0;
  async detectVersion() {
    return assumedVersion('0.29.3');
  }
  async send<T>(request: Request<T>): Promise<T> {
    const { method, path } = request.http;
    this.sent.push(`${method} ${path}`);
    const n = ++this.seq;
    if (method !== 'GET') return { user: { id: String(n), name: `u${n}` } } as T;
    if (path.startsWith('/api/v1/user')) return [{ id: String(n), name: `read${n}` }] as T;
    if (path.startsWith('/api/v1/node')) return [{ id: String(n), givenName: `read${n}` }] as T;
    if (path.startsWith('/api/v1/preauthkey')) return [] as T;
    if (path.startsWith('/api/v1/policy')) return { kind: 'stored', text: `read${n}` } as T;
    return {} as T;
  }
  async checkHealth(probe: () => Promise<void>, authenticated: () => Promise<unknown>) {
    await probe();
    await authenticated();
  }
  assertCanCarrySecret() {}
}

const client = (wire: Wire) => new Headscale(wire, { gate: new WriteGate('off') });
const gets = (w: CountingWire, path: string) => w.sent.filter((s) => s === `GET ${path}`).length;

describe('HeadscaleClient.prefetch', () => {
  it('hands each prefetched read to the first caller only; a later caller reads again', async () => {
    const wire = new CountingWire();
    const hs = client(wire);
    hs.prefetch(['users', 'nodes', 'policy']);
    await new Promise((r) => setImmediate(r));
    expect(wire.sent).toHaveLength(3);
    const first = await hs.listUsers();
    expect(wire.sent).toHaveLength(3);
    const second = await hs.listUsers();
    expect(second).not.toEqual(first);
    expect(gets(wire, '/api/v1/user')).toBe(2);
    await hs.listNodes();
    await hs.getPolicy();
    expect(wire.sent).toHaveLength(4);
  });

  it('drops a prefetched read that a write may change, and keeps the others', async () => {
    const wire = new CountingWire();
    const hs = client(wire);
    hs.prefetch(['users', 'nodes']);
    await new Promise((r) => setImmediate(r));
    await hs.ensureUsers(['new-user']); // takes the prefetched users, then creates one
    expect(gets(wire, '/api/v1/user')).toBe(1);
    hs.prefetch(['users']);
    await new Promise((r) => setImmediate(r));
    await hs.ensureUsers(['another']); // a create drops the users read started before it…
    await hs.listUsers();
    expect(gets(wire, '/api/v1/user')).toBe(3);
    await hs.listNodes(); // …but not the nodes read
    expect(gets(wire, '/api/v1/node')).toBe(1);
  });

  it('holds a failed prefetch for the caller that takes it', async () => {
    const wire = new CountingWire();
    let fail = true;
    const send = wire.send.bind(wire);
    wire.send = async <T>(r: Request<T>) => {
      if (fail && r.http.path === '/api/v1/node') throw new Error('Headscale down');
      return send(r);
    };
    const hs = client(wire);
    hs.prefetch(['nodes']);
    await new Promise((r) => setImmediate(r));
    fail = false;
    await expect(hs.listNodes()).rejects.toThrow('Headscale down');
    await expect(hs.listNodes()).resolves.toHaveLength(1);
  });

  it("gives the health probe's users to the next caller", async () => {
    const wire = new CountingWire();
    const hs = client(wire);
    await hs.health();
    await hs.listUsers();
    expect(gets(wire, '/api/v1/user')).toBe(1);
    await hs.listUsers();
    expect(gets(wire, '/api/v1/user')).toBe(2);
  });

  it('forgets prefetched reads when the server is replaced', async () => {
    const wire = new CountingWire();
    const hs = client(wire);
    hs.prefetch(['policy']);
    await new Promise((r) => setImmediate(r));
    hs.forgetVersion();
    await hs.getPolicy();
    expect(gets(wire, '/api/v1/policy')).toBe(2);
  });
});

describe('readOnce', () => {
  it('shares the argument-less reads of one pass and passes everything else through', async () => {
    const wire = new CountingWire();
    const pass = readOnce(client(wire));
    const [a, b] = await Promise.all([pass.listNodes(), pass.listNodes()]);
    expect(a).toBe(b);
    await pass.getPolicy();
    await pass.getPolicy();
    await pass.listPreAuthKeys([{ id: '1', name: 'x' }]);
    await pass.listPreAuthKeys([{ id: '1', name: 'x' }]);
    expect(gets(wire, '/api/v1/node')).toBe(1);
    expect(gets(wire, '/api/v1/policy')).toBe(1);
    expect(gets(wire, '/api/v1/preauthkey')).toBe(2);
    expect((await pass.version()).raw).toContain('0.29.3');
  });
});
