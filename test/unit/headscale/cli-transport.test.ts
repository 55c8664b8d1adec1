// The CLI transport against FakeRunner answers recorded from the real binaries
// (fixtures/<version>/cli, recorded by fixtures/record.sh): exact argv per version,
// secrets never in argv, refusals, errors, dry-run.
import { describe, expect, it } from 'vitest';
import { ExternalError, UsageError } from '../../../src/errors.js';
import { createHeadscaleClient, DRY_RUN_KEY, kubectlExecPrefix, type HsUser } from '../../../src/headscale/index.js';
import { WriteGate, type PlanEntry } from '../../../src/write-gate.js';
import { FakeRunner } from '../../helpers/fake-runner.js';
import { cliRun, fx, fxTagged, GENERATION, VERSIONS, type FixtureVersion } from './fixtures.js';

const PREFIX = kubectlExecPrefix({ namespace: 'headscale' });
const P = PREFIX.join(' ');
const alpha = (_v?: FixtureVersion): HsUser => ({ id: '1', name: 'june-alpha' });

function client(runner: FakeRunner, gate = new WriteGate('off')) {
  return createHeadscaleClient({ transport: 'exec', runner, gate, kubectl: { namespace: 'headscale' } });
}

/** A runner that answers `headscale version` like the given release. */
function runnerFor(v: FixtureVersion): FakeRunner {
  return new FakeRunner().on(`${P} version`, cliRun(v, 'version'), 1);
}

describe('kubectlExecPrefix', () => {
  it('builds the kubectl exec argv, omitting unset kubeconfig/context', () => {
    expect(kubectlExecPrefix({ namespace: 'hs' })).toEqual([
      'kubectl',
      '-n',
      'hs',
      'exec',
      'deployment/headscale',
      '-c',
      'headscale',
      '--',
      'headscale',
    ]);
    expect(kubectlExecPrefix({ kubectl: '/bin/kubectl', kubeconfig: '/k', context: 'c1', namespace: 'hs' })).toEqual([
      '/bin/kubectl',
      '--kubeconfig',
      '/k',
      '--context',
      'c1',
      '-n',
      'hs',
      'exec',
      'deployment/headscale',
      '-c',
      'headscale',
      '--',
      'headscale',
    ]);
  });
});

describe.each(VERSIONS)('CLI transport, Headscale %s (recorded)', (v) => {
  const gen = GENERATION[v];

  it('detects the version once, from plain `headscale version`', async () => {
    const runner = runnerFor(v);
    const hs = client(runner);
    const [a, b] = await Promise.all([hs.version(), hs.version()]);
    expect(a).toBe(b);
    expect(a).toMatchObject({ raw: v, generation: gen, source: 'reported' });
    expect(runner.commandLines()).toEqual([`${P} version`]);
  });

  it('ensureUsers lists once, creates only the missing, and is idempotent', async () => {
    const runner = runnerFor(v)
      .on(`${P} users list -o json`, cliRun(v, 'users-list-empty'), 1)
      .on(`${P} users create june-alpha -o json`, cliRun(v, 'users-create'), 1)
      .on(`${P} users list -o json`, cliRun(v, 'users-list'), 1);
    const hs = client(runner);
    expect(await hs.ensureUsers(['june-alpha'])).toEqual([alpha(v)]);
    expect(await hs.ensureUsers(['june-alpha', 'june-alpha'])).toEqual([alpha(v), alpha(v)]);
    expect(runner.commandLines().filter((c) => c.includes('users create'))).toHaveLength(1);
  });

  it('ensureUsers creates at most 4 at a time', async () => {
    let inFlight = 0;
    let peak = 0;
    const names = Array.from({ length: 9 }, (_, i) => `june-svc${i}`);
    const runner = runnerFor(v)
      .on(`${P} users list -o json`, { stdout: 'null\n' }, 1)
      .on(`${P} users create`, async (call) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((r) => setTimeout(r, 5));
        inFlight--;
        const name = call.args[call.args.indexOf('create') + 1] as string;
        const id = names.indexOf(name) + 1;
        return { stdout: JSON.stringify({ id: gen === 'v023' ? String(id) : id, name }) };
      });
    const users = await client(runner).ensureUsers(names);
    expect(users.map((u) => u.name)).toEqual(names);
    expect(peak).toBe(4);
  });

  it('a user created by someone else meanwhile is found, not an error', async () => {
    const runner = runnerFor(v)
      .on(`${P} users list -o json`, cliRun(v, 'users-list-empty'), 1)
      .on(`${P} users create june-alpha -o json`, cliRun(v, 'users-create-duplicate'), 1)
      .on(`${P} users list -o json`, cliRun(v, 'users-list'), 1);
    expect(await client(runner).ensureUsers(['june-alpha'])).toEqual([alpha(v)]);
  });

  it('invalid user names are refused before anything runs', async () => {
    const runner = new FakeRunner();
    await expect(client(runner).ensureUsers(['-rf'])).rejects.toBeInstanceOf(UsageError);
    await expect(client(runner).ensureUsers(['a'])).rejects.toBeInstanceOf(UsageError);
    expect(runner.calls).toHaveLength(0);
  });

  it('createPreAuthKey: -u NAME on 0.23, -u ID after; the key only in stdout', async () => {
    const ref = gen === 'v023' ? 'june-alpha' : '1';
    const argv = `${P} preauthkeys create -u ${ref} --reusable --expiration 180d -o json`;
    const runner = runnerFor(v).on(argv, cliRun(v, 'preauthkeys-create'), 1);
    const key = await client(runner).createPreAuthKey(alpha(v), { reusable: true, expiration: '180d' });
    const expected = (JSON.parse(fx(v, 'cli/preauthkeys-create.json')) as { key: string }).key;
    expect(key).toMatchObject({ id: '1', user: 'june-alpha', key: expected, reusable: true, ephemeral: false });
    expect(runner.commandLines()).toEqual([`${P} version`, argv]);
    for (const c of runner.calls) expect([c.file, ...c.args].join(' ')).not.toContain(expected);
  });

  it('createPreAuthKey: ephemeral, not reusable', async () => {
    const ref = gen === 'v023' ? 'june-alpha' : '1';
    const argv = `${P} preauthkeys create -u ${ref} --ephemeral --expiration 1h -o json`;
    const runner = runnerFor(v).on(argv, cliRun(v, 'preauthkeys-create-ephemeral'), 1);
    const key = await client(runner).createPreAuthKey(alpha(v), { reusable: false, ephemeral: true, expiration: '1h' });
    expect(key).toMatchObject({ reusable: false, ephemeral: true });
    expect(runner.commandLines()[1]).toBe(argv);
  });

  it('the wrong -u type is what the real binary rejects (why the syntax is versioned)', async () => {
    // what a tool hard-coding one syntax sees on another version
    const runner = runnerFor(v).on(`${P} preauthkeys create`, cliRun(v, 'preauthkeys-create-wrong-user-type'), 1);
    const hs = createHeadscaleClient({
      transport: 'exec',
      runner,
      gate: new WriteGate('off'),
      prefix: PREFIX,
      assumeVersion: gen === 'v023' ? '0.26.1' : '0.23.0',
    });
    const err = await hs.createPreAuthKey(alpha(v), { reusable: false, expiration: '1h' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalError);
    // 0.23 given an ID looks for a user NAMED "1"; 0.26+ given a name fails to parse it
    expect((err as Error).message).toMatch(
      gen === 'v023'
        ? /^`headscale preauthkeys create -u 1 --expiration 1h -o json` failed \(Headscale v0\.26\.1, exit 1\): rpc error: code = Unknown desc = user not found$/
        : /^`headscale preauthkeys create -u june-alpha --expiration 1h -o json` failed \(Headscale v0\.23\.0, exit 1\): invalid argument "june-alpha" for "-u, --user" flag/,
    );
  });

  it('listPreAuthKeys: one call per user before 0.28, one call in total after', async () => {
    const users: HsUser[] = [alpha(v), { id: '7', name: 'june-other' }];
    const runner = runnerFor(v);
    if (gen === 'v028') {
      runner.on(`${P} preauthkeys list -o json`, cliRun(v, 'preauthkeys-list'), 1);
    } else {
      const ref = (u: HsUser) => (gen === 'v023' ? u.name : u.id);
      runner.on(`${P} preauthkeys list -u ${ref(users[0]!)} -o json`, cliRun(v, 'preauthkeys-list'), 1);
      runner.on(`${P} preauthkeys list -u ${ref(users[1]!)} -o json`, cliRun(v, 'preauthkeys-list-empty'), 1);
    }
    const keys = await client(runner).listPreAuthKeys(users);
    expect(runner.calls).toHaveLength(gen === 'v028' ? 2 : 3);
    expect(keys.map((k) => k.id).sort()).toEqual(['1', '2']);
    expect(keys.every((k) => k.user === 'june-alpha')).toBe(true);
    if (gen === 'v028') expect(keys.every((k) => k.key === undefined && k.keyPrefix?.startsWith('hskey-auth-'))).toBe(true);
    else expect(keys.every((k) => /^[0-9a-f]{48}$/.test(k.key ?? ''))).toBe(true);
  });

  it('listPreAuthKeys on 0.28+ keeps only the requested users', async () => {
    if (gen !== 'v028') return;
    const runner = runnerFor(v).on(`${P} preauthkeys list -o json`, cliRun(v, 'preauthkeys-list'), 1);
    expect(await client(runner).listPreAuthKeys([{ id: '9', name: 'june-nobody' }])).toEqual([]);
  });

  it('expirePreAuthKey: --id on 0.28+; refused (never the key in argv) before', async () => {
    const keys = JSON.parse(fx(v, 'cli/preauthkeys-list.json')) as { key: string }[];
    const listed = {
      id: '2',
      user: 'june-alpha',
      key: gen === 'v028' ? undefined : keys[1]?.key,
      reusable: false,
      ephemeral: true,
      used: false,
    };
    if (gen === 'v028') {
      const runner = runnerFor(v).on(`${P} preauthkeys expire --id 2 -o json`, { stdout: '{}\n' }, 1);
      await client(runner).expirePreAuthKey(listed);
      expect(runner.commandLines()).toEqual([`${P} version`, `${P} preauthkeys expire --id 2 -o json`]);
    } else {
      const runner = runnerFor(v);
      const err = await client(runner)
        .expirePreAuthKey(listed)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UsageError);
      expect((err as Error).message).toMatch(new RegExp(`Headscale ${v.replace(/\./g, '\\.')} .*full key on the command line`));
      expect((err as UsageError).hint).toMatch(/HEADSCALE_API_URL and HEADSCALE_API_KEY/);
      expect(runner.commandLines()).toEqual([`${P} version`]); // nothing but the version was run
    }
  });

  it('listNodes: empty (`null`) and one node; the node key in 0.23/0.26 JSON is not needed', async () => {
    const runner = runnerFor(v)
      .on(`${P} nodes list -o json`, cliRun(v, 'nodes-list-empty'), 1)
      .on(`${P} nodes list -o json`, cliRun(v, 'nodes-list'), 1);
    const hs = client(runner);
    expect(await hs.listNodes()).toEqual([]);
    const [node] = await hs.listNodes();
    expect(node).toMatchObject({ id: '1', name: 'june-node', user: 'june-alpha', ipAddresses: ['100.64.0.1', 'fd7a:115c:a1e0::1'] });
  });

  it('deleteNode: `nodes delete -i ID --force`', async () => {
    const runner = runnerFor(v).on(`${P} nodes delete -i 1 --force -o json`, { stdout: '{}\n' }, 1);
    await client(runner).deleteNode('1');
    await expect(client(new FakeRunner()).deleteNode('june-node')).rejects.toBeInstanceOf(UsageError);
  });

  it('deleteUser: `users destroy NAME` on 0.23, `--identifier ID` after; owning nodes is a clear error', async () => {
    const argv = gen === 'v023' ? `${P} users destroy june-alpha --force -o json` : `${P} users destroy --identifier 1 --force -o json`;
    const runner = runnerFor(v).on(argv, cliRun(v, 'users-destroy-with-node'), 1);
    const err = await client(runner)
      .deleteUser(alpha(v))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalError);
    expect((err as Error).message).toContain(`\`headscale ${argv.slice(P.length + 1)}\` failed (Headscale ${v}, exit 1)`);
    expect((err as Error).message).toMatch(/user not empty: node\(s\) found/);
    expect(runner.commandLines()).toEqual([`${P} version`, argv]);
  });

  it('garbage output → ExternalError naming the command and the version', async () => {
    const runner = runnerFor(v).on(`${P} users list -o json`, { stdout: 'Error: something odd\n' }, 1);
    const err = await client(runner)
      .listUsers()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalError);
    expect((err as Error).message).toMatch(
      new RegExp(`\`headscale users list -o json\` \\(Headscale ${v.replace(/\./g, '\\.')}\\): not JSON`),
    );
  });

  it('dry-run: writes are recorded, not run; the key is a placeholder', async () => {
    const gate = new WriteGate('live');
    const plan: PlanEntry[] = [];
    const runner = runnerFor(v).on(`${P} users list -o json`, cliRun(v, 'users-list-empty'), 1);
    const hs = client(runner, gate);
    await gate.collect(plan, async () => {
      const [u] = await hs.ensureUsers(['june-alpha']);
      const key = await hs.createPreAuthKey(u!, { reusable: true, expiration: '180d' });
      expect(key.key).toBe(DRY_RUN_KEY);
      await hs.deleteNode('3');
    });
    expect(plan).toEqual([
      { kind: 'headscale', action: 'create user', args: { name: 'june-alpha' } },
      {
        kind: 'headscale',
        action: 'create preauthkey',
        args: { user: 'june-alpha', reusable: true, ephemeral: false, expiration: '180d' },
      },
      { kind: 'headscale', action: 'delete node', args: { id: '3' } },
    ]);
    expect(runner.commandLines()).toEqual([`${P} version`, `${P} users list -o json`]); // reads only
  });
});

describe('CLI transport: keys owned by a tag (TAILNET_IDENTITY=tag)', () => {
  const tag = { tag: 'tag:june-alpha' };
  const at = (version: string, runner: FakeRunner) =>
    createHeadscaleClient({ transport: 'exec', runner, gate: new WriteGate('off'), prefix: PREFIX, assumeVersion: version });
  const answer = (path: string) => ({ stdout: fxTagged(path), stderr: '', exitCode: 0 });

  it('0.28+: minted with --tags and no -u; the key only in stdout; listed by its tag', async () => {
    const argv = `${P} preauthkeys create --tags tag:june-alpha --reusable --expiration 180d -o json`;
    const runner = new FakeRunner().on(argv, answer('cli/preauthkeys-create-tagged.json'), 1);
    const hs = at('0.29.3', runner);
    expect(await hs.tagOwnedKeys()).toEqual({ supported: true, since: '0.28+' });
    const key = await hs.createPreAuthKey(tag, { reusable: true, expiration: '180d' });
    expect(key).toMatchObject({ id: '4', user: '', aclTags: ['tag:june-alpha'], reusable: true });
    expect(runner.commandLines()).toEqual([argv]);
    expect(runner.commandLines().join(' ')).not.toContain(key.key);
    runner.on(`${P} preauthkeys list -o json`, answer('cli/preauthkeys-list-tagged.json'), 2);
    expect((await hs.listPreAuthKeys([tag])).map((k) => k.id)).toEqual(['4']);
    // a user's listing leaves out the tag-owned keys
    expect((await hs.listPreAuthKeys([{ id: '1', name: 'june-alpha' }])).every((k) => !k.aclTags)).toBe(true);
  });

  it('before 0.28: refused without a call, naming the version and the one needed', async () => {
    const runner = new FakeRunner();
    const hs = at('0.26.1', runner);
    expect(await hs.tagOwnedKeys()).toEqual({ supported: false, since: '0.28+' });
    const err = (await hs.createPreAuthKey(tag, { reusable: true, expiration: '180d' }).catch((e: unknown) => e)) as Error;
    expect(err).toBeInstanceOf(UsageError);
    expect(err.message).toBe('Headscale v0.26.1 cannot mint a key owned by tag:june-alpha: tag-owned keys need Headscale 0.28+');
    await expect(hs.listPreAuthKeys([tag])).rejects.toBeInstanceOf(UsageError);
    expect(runner.calls).toHaveLength(0);
  });
});

describe('CLI transport: detection and health', () => {
  it('a source build that says `dev` is recognised from `preauthkeys expire --help`', async () => {
    for (const v of VERSIONS) {
      const runner = new FakeRunner()
        .on(`${P} version`, { stdout: 'dev\n' }, 1)
        .on(`${P} preauthkeys expire --help`, cliRun(v, 'preauthkeys-expire-help'), 1);
      const version = await client(runner).version();
      expect(version).toMatchObject({ raw: 'dev', generation: GENERATION[v], source: 'probed' });
    }
  });

  it('unrecognisable help → ExternalError, not a guess', async () => {
    const runner = new FakeRunner()
      .on(`${P} version`, { stdout: 'dev\n' }, 1)
      .on(`${P} preauthkeys expire --help`, { stdout: 'Usage: something else\n' }, 1);
    await expect(client(runner).version()).rejects.toThrow(/cannot tell which Headscale version/);
  });

  it('health when the pod is not running → ExternalError with a hint', async () => {
    const runner = new FakeRunner().on(`${P} version`, {
      exitCode: 1,
      stderr: 'error: unable to upgrade connection: container not found ("headscale")\n',
    });
    const err = await client(runner)
      .health()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ExternalError);
    expect((err as Error).message).toMatch(
      /^Headscale is not healthy: `headscale version` failed \(Headscale unknown, exit 1\): error: unable to upgrade connection/,
    );
    expect((err as ExternalError).hint).toMatch(/running/);
  });

  it('health on 0.29 uses `headscale health`; on older `users list`', async () => {
    const r29 = runnerFor('v0.29.2').on(`${P} health -o json`, { stdout: '{"database_connectivity": true}\n' }, 1);
    await client(r29).health();
    const r26 = runnerFor('v0.26.1').on(`${P} users list -o json`, { stdout: 'null\n' }, 1);
    await client(r26).health();
    const down = runnerFor('v0.26.1').on(`${P} users list -o json`, {
      exitCode: 1,
      stderr: '2026-11-27T20:00:00Z FTL Could not connect: context deadline exceeded error="context deadline exceeded"\n',
    });
    const err = await client(down)
      .health()
      .catch((e: unknown) => e);
    expect((err as Error).message).toMatch(
      /^Headscale is not healthy: `headscale users list -o json` failed \(Headscale v0\.26\.1, exit 1\): .*deadline exceeded/,
    );
    expect((err as ExternalError).hint).toMatch(/running/);
  });

  it('assumeVersion skips detection', async () => {
    const runner = new FakeRunner().on(`${P} preauthkeys list -o json`, { stdout: 'null\n' }, 1);
    const hs = createHeadscaleClient({ transport: 'exec', runner, gate: new WriteGate('off'), prefix: PREFIX, assumeVersion: '0.28.0' });
    expect(await hs.listPreAuthKeys([{ id: '1', name: 'june-alpha' }])).toEqual([]);
    expect(runner.calls).toHaveLength(1);
  });

  it('a bad expiration is a UsageError before anything runs', async () => {
    const runner = new FakeRunner();
    await expect(
      client(runner).createPreAuthKey({ id: '1', name: 'june-alpha' }, { reusable: true, expiration: '6 months' }),
    ).rejects.toBeInstanceOf(UsageError);
    expect(runner.calls).toHaveLength(0);
  });
});

describe('CLI transport: a broken kubectl exec stream', () => {
  const broken = {
    stdout: '',
    stderr: 'E1201 websocket.go:296] Unknown stream id 1, discarding message\nerror: closed all streams\n',
    exitCode: 1,
  };

  it('a read is run again (at most three times) and answers', async () => {
    const runner = new FakeRunner()
      .on(`${P} users list -o json`, broken, 2)
      .on(`${P} users list -o json`, { stdout: fx('v0.26.1', 'cli/users-list.json') }, 1);
    const hs = createHeadscaleClient({ transport: 'exec', runner, gate: new WriteGate('off'), prefix: PREFIX, assumeVersion: '0.26.1' });
    expect((await hs.listUsers()).length).toBeGreaterThan(0);
    expect(runner.commandLines()).toEqual(Array(3).fill(`${P} users list -o json`));
  });

  it('a read that keeps failing reports the failure after three runs', async () => {
    const runner = new FakeRunner().on(`${P} users list -o json`, broken, 3);
    const hs = createHeadscaleClient({ transport: 'exec', runner, gate: new WriteGate('off'), prefix: PREFIX, assumeVersion: '0.26.1' });
    await expect(hs.listUsers()).rejects.toThrow(/closed all streams/);
    expect(runner.calls).toHaveLength(3);
  });

  it('a write is never run twice: the failure is reported', async () => {
    const runner = new FakeRunner().on(`${P} users create june-alpha -o json`, broken, 1);
    const hs = createHeadscaleClient({ transport: 'exec', runner, gate: new WriteGate('off'), prefix: PREFIX, assumeVersion: '0.26.1' });
    runner.on(`${P} users list -o json`, { stdout: '[]' }, 2);
    await expect(hs.ensureUsers(['june-alpha'])).rejects.toThrow(/closed all streams/);
    expect(runner.commandLines().filter((l) => l.includes('users create'))).toHaveLength(1);
  });
});
