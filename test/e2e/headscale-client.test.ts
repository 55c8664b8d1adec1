// Both Headscale transports against real `headscale serve` processes, one per supported
// dialect (0.23, 0.26, 0.29). Binaries: ~/.cache/june-ts-e2e/bin/headscale-<v>/headscale
// (or JUNE_TS_E2E_BIN). Under CI=true a missing binary fails; locally it skips.
//   npx vitest run --project e2e test/e2e/headscale-client.test.ts
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExternalError, UsageError } from '../../src/errors.js';
import { createHeadscaleClient, DRY_RUN_KEY, type HeadscaleClient, type HsUser } from '../../src/headscale/index.js';
import { WriteGate, type PlanEntry } from '../../src/write-gate.js';
import { ExecaRunner, type ProcessRunner, type RunOptions } from '../../src/process/runner.js';
import {
  haveHeadscale,
  HEADSCALE_TEST_VERSIONS,
  headscaleBinary,
  startHeadscale,
  type HeadscaleServer,
} from '../helpers/headscale-server.js';

const CI = process.env.CI === 'true';

/** Records every argv (and stdin) so the test can prove no key was on a command line. */
class SpyRunner implements ProcessRunner {
  readonly argv: string[][] = [];
  readonly inner = new ExecaRunner();
  run(file: string, args: readonly string[], options?: RunOptions) {
    this.argv.push([file, ...args]);
    return this.inner.run(file, args, options);
  }
}

const expected = {
  'v0.23.0': { generation: 'v023', minor: 23 },
  'v0.26.1': { generation: 'v026', minor: 26 },
  'v0.29.3': { generation: 'v028', minor: 29 },
} as const;

for (const version of HEADSCALE_TEST_VERSIONS) {
  const present = haveHeadscale(version);
  const suite = present || CI ? describe : describe.skip;

  suite(`Headscale ${version} (real binary)`, () => {
    let server: HeadscaleServer;
    let apiKey: string;
    const spy = new SpyRunner();
    const gate = new WriteGate('off');
    const clients: Record<'cli' | 'api', () => HeadscaleClient> = {
      cli: () => createHeadscaleClient({ transport: 'exec', runner: spy, gate, prefix: server.prefix }),
      api: () => createHeadscaleClient({ transport: 'api', gate, url: server.url, apiKey }),
    };
    const minted: string[] = [];

    beforeAll(async () => {
      if (!present) throw new Error(`headscale ${version} binary missing at ${headscaleBinary(version)} (required under CI=true)`);
      server = await startHeadscale(version);
      apiKey = await server.createApiKey();
    });

    afterAll(async () => {
      await server?.stop();
    });

    for (const transport of ['cli', 'api'] as const) {
      describe(`${transport} transport`, () => {
        let hs: HeadscaleClient;
        let alice: HsUser;
        const names = [`june-a-${transport}`, `june-b-${transport}`];

        beforeAll(() => {
          hs = clients[transport]();
        });

        it('detects the version and is healthy', async () => {
          const v = await hs.version();
          expect(v.generation).toBe(expected[version].generation);
          if (transport === 'api' && expected[version].generation !== 'v028') {
            // < 0.28 has no GET /version: the dialect comes from the OpenAPI document
            expect(v.source).toBe('probed');
          } else {
            expect(v.source).toBe('reported');
            expect(v.minor).toBe(expected[version].minor);
          }
          await hs.health();
        });

        it('lists no nodes on an empty server', async () => {
          expect(await hs.listNodes()).toEqual([]);
        });

        it('ensureUsers is idempotent', async () => {
          const first = await hs.ensureUsers(names);
          expect(first.map((u) => u.name)).toEqual(names);
          const second = await hs.ensureUsers([...names].reverse());
          expect(second.map((u) => u.id)).toEqual([...first].reverse().map((u) => u.id));
          const all = await hs.listUsers();
          for (const n of names) expect(all.filter((u) => u.name === n)).toHaveLength(1);
          alice = first[0] as HsUser;
        });

        it('creates a reusable 180d key and lists it', async () => {
          const before = Date.now();
          const key = await hs.createPreAuthKey(alice, { reusable: true, expiration: '180d' });
          minted.push(key.key);
          expect(key.key.length).toBeGreaterThan(20);
          expect(key.reusable).toBe(true);
          expect(key.user).toBe(alice.name);
          const days = ((key.expiration?.getTime() ?? 0) - before) / 86_400_000;
          expect(days).toBeGreaterThan(179.9);
          expect(days).toBeLessThan(180.1);

          const listed = await hs.listPreAuthKeys([alice]);
          const mine = listed.find((k) => k.id === key.id);
          expect(mine).toBeDefined();
          expect(mine?.user).toBe(alice.name);
          if (expected[version].generation === 'v028') {
            expect(mine?.key).toBeUndefined();
            expect(key.key.startsWith(`${mine?.keyPrefix}-`)).toBe(true);
          } else {
            expect(mine?.key).toBe(key.key);
          }
        });

        it('expires a key, or refuses to put it on a command line', async () => {
          const key = await hs.createPreAuthKey(alice, { reusable: false, expiration: '1h' });
          minted.push(key.key);
          const listed = (await hs.listPreAuthKeys([alice])).find((k) => k.id === key.id);
          expect(listed).toBeDefined();
          if (transport === 'cli' && expected[version].generation !== 'v028') {
            const err = await hs.expirePreAuthKey(listed!).catch((e: unknown) => e);
            expect(err).toBeInstanceOf(UsageError);
            expect((err as UsageError).message).toMatch(/full key on the command line/);
            expect((err as UsageError).hint).toMatch(/HEADSCALE_API_URL and HEADSCALE_API_KEY/);
            return;
          }
          await hs.expirePreAuthKey(listed!);
          const after = (await hs.listPreAuthKeys([alice])).find((k) => k.id === key.id);
          expect(after?.expiration?.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
        });

        it('dry-run records writes and changes nothing', async () => {
          const dryGate = new WriteGate('live');
          const plan: PlanEntry[] = [];
          const dry =
            transport === 'cli'
              ? createHeadscaleClient({ transport: 'exec', runner: spy, gate: dryGate, prefix: server.prefix })
              : createHeadscaleClient({ transport: 'api', gate: dryGate, url: server.url, apiKey });
          await dryGate.collect(plan, async () => {
            const [u] = await dry.ensureUsers([names[0] as string, `june-dry-${transport}`]);
            const key = await dry.createPreAuthKey(u as HsUser, { reusable: true, expiration: '180d' });
            expect(key.key).toBe(DRY_RUN_KEY);
          });
          expect(plan.map((e) => (e.kind === 'headscale' ? e.action : e.kind))).toEqual(['create user', 'create preauthkey']);
          expect((await hs.listUsers()).map((u) => u.name)).not.toContain(`june-dry-${transport}`);
        });

        it('deletes a user', async () => {
          const [tmp] = await hs.ensureUsers([`june-tmp-${transport}`]);
          await hs.deleteUser(tmp as HsUser);
          expect((await hs.listUsers()).map((u) => u.name)).not.toContain(`june-tmp-${transport}`);
        });

        it('lists a node, refuses to delete its user, deletes the node, then the user', async () => {
          const [owner] = await hs.ensureUsers([`june-node-${transport}`]);
          await server.registerNode(owner!.name, `june-node-${transport}`);
          const node = (await hs.listNodes()).find((n) => n.user === owner!.name);
          expect(node).toMatchObject({ name: `june-node-${transport}`, givenName: `june-node-${transport}`, online: false });
          expect(node?.ipAddresses.some((ip) => ip.startsWith('100.64.'))).toBe(true);
          const err = await hs.deleteUser(owner!).catch((e: unknown) => e);
          expect(err).toBeInstanceOf(ExternalError);
          expect((err as Error).message).toMatch(/user not empty: node\(s\) found/);
          await hs.deleteNode(node!.id);
          expect((await hs.listNodes()).find((n) => n.id === node!.id)).toBeUndefined();
          await hs.deleteUser(owner!);
          expect((await hs.listUsers()).map((u) => u.name)).not.toContain(owner!.name);
        });

        it('deleting a node that does not exist is a clear error', async () => {
          await expect(hs.deleteNode('4242')).rejects.toBeInstanceOf(ExternalError);
        });
      });
    }

    it('a wrong API key is a clear error and creates nothing', async () => {
      const bad = createHeadscaleClient({ transport: 'api', gate, url: server.url, apiKey: 'wrong.api-key-0000000000' });
      const err = await bad.ensureUsers(['june-wrong-key']).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ExternalError);
      expect((err as Error).message).toMatch(/Headscale rejected the API key .* check HEADSCALE_API_KEY/);
      expect((err as Error).message).not.toContain('wrong.api-key');
      expect((await clients.api().listUsers()).map((u) => u.name)).not.toContain('june-wrong-key');
    });

    it('no pre-auth key ever appeared in argv', () => {
      expect(minted.length).toBeGreaterThan(0);
      const argv = spy.argv.map((a) => a.join(' ')).join('\n');
      for (const key of minted) expect(argv).not.toContain(key);
      expect(argv).not.toContain(apiKey);
    });

    it('health is a clear error once the server is stopped', async () => {
      const cli = clients.cli();
      const api = clients.api();
      await cli.version();
      await api.version();
      await server.stop();
      const cliErr = await cli.health().catch((e: unknown) => e);
      expect(cliErr).toBeInstanceOf(ExternalError);
      expect((cliErr as Error).message).toMatch(/Headscale is not healthy/);
      expect((cliErr as ExternalError).hint).toMatch(/running/);
      const apiErr = await api.health().catch((e: unknown) => e);
      expect(apiErr).toBeInstanceOf(ExternalError);
      expect((apiErr as Error).message).toMatch(/cannot reach Headscale at http:\/\/127\.0\.0\.1:\d+ .*ECONNREFUSED/);
    });
  });
}
