import { describe, expect, it } from 'vitest';
import type { WorkflowRun } from '../../src/context.js';
import { ExternalError, InterruptedError, PhaseError, UsageError } from '../../src/errors.js';
import { WriteGate } from '../../src/write-gate.js';
import { expectUsageError } from '../helpers/errors.js';
import {
  buildTree,
  flatten,
  renderTree,
  runPhases,
  selectPhases,
  splitIds,
  type Phase,
  type PhaseDef,
  type SelectOptions,
} from '../../src/phases/engine.js';
import { WORKFLOWS } from '../../src/phases/workflows.js';

interface Ctx {
  skipC?: boolean;
  ran: string[];
}

const noop = (id: string) => async (ctx: Ctx) => {
  ctx.ran.push(id);
};

const DEFS: PhaseDef<Ctx>[] = [
  {
    id: 'a',
    description: 'Phase A',
    children: [
      { id: 'x', description: 'A x', run: noop('a/x') },
      { id: 'y', description: 'A y needs x', requires: ['a/x'], run: noop('a/y') },
    ],
  },
  {
    id: 'b',
    description: 'Phase B',
    children: [{ id: 'p', description: 'B p', run: noop('b/p'), children: [{ id: 'q', description: 'B p q', run: noop('b/p/q') }] }],
  },
  { id: 'bb', description: 'Not a child of b', run: noop('bb') },
  {
    id: 'c',
    description: 'Config-gated',
    skipIf: (ctx) => (ctx.skipC ? 'SKIP_C=true' : undefined),
    children: [{ id: 'd', description: 'C d', run: noop('c/d') }],
  },
];
const TREE = buildTree(DEFS);
const IDS = flatten(TREE).map((p) => p.id);

/** id → 'run' or the skip reason */
function outcome<C>(tree: readonly Phase<C>[], options: SelectOptions, ctx: C, command = 'test'): Record<string, string> {
  return Object.fromEntries(
    selectPhases(tree, options, ctx, command).map((s) => [s.phase.id, s.status === 'run' ? 'run' : `skipped: ${s.reason}`]),
  );
}

const run = (...ids: string[]) => Object.fromEntries(ids.map((i) => [i, 'run']));
const skipped = (reason: string, ...ids: string[]) => Object.fromEntries(ids.map((i) => [i, `skipped: ${reason}`]));

describe('phase ids', () => {
  it('children are joined to their parent with /, in depth-first order', () => {
    expect(IDS).toEqual(['a', 'a/x', 'a/y', 'b', 'b/p', 'b/p/q', 'bb', 'c', 'c/d']);
    expect(flatten(TREE).map((p) => p.depth)).toEqual([0, 1, 1, 0, 1, 2, 0, 0, 1]);
  });

  it('splitIds splits comma lists and repeats, trimming blanks', () => {
    expect(splitIds(['a, b', 'c', ' ,d,'])).toEqual(['a', 'b', 'c', 'd']);
    expect(splitIds(undefined)).toEqual([]);
  });
});

describe('selectPhases on a synthetic tree', () => {
  const ALL = run(...IDS);
  const cases: [string, SelectOptions, Partial<Ctx>, Record<string, string>][] = [
    ['nothing selected runs everything', {}, {}, ALL],
    ['--skip a parent skips its children', { skip: ['a'] }, {}, { ...ALL, ...skipped('--skip a', 'a', 'a/x', 'a/y') }],
    ['--skip b does not touch bb (prefix is not a parent)', { skip: ['b'] }, {}, { ...ALL, ...skipped('--skip b', 'b', 'b/p', 'b/p/q') }],
    ['--skip a leaf', { skip: ['b/p/q'] }, {}, { ...ALL, ...skipped('--skip b/p/q', 'b/p/q') }],
    [
      '--skip with a comma list',
      { skip: ['a/y,b/p/q'] },
      {},
      { ...ALL, ...skipped('--skip a/y', 'a/y'), ...skipped('--skip b/p/q', 'b/p/q') },
    ],
    ['--skip repeated', { skip: ['a/y', 'b/p/q'] }, {}, { ...ALL, ...skipped('--skip a/y', 'a/y'), ...skipped('--skip b/p/q', 'b/p/q') }],
    [
      '--skip a prerequisite together with its dependant',
      { skip: ['a/x, a/y'] },
      {},
      { ...ALL, ...skipped('--skip a/x', 'a/x'), ...skipped('--skip a/y', 'a/y') },
    ],
    [
      '--only keeps descendants, skips the rest',
      { only: ['b'] },
      {},
      { ...run('b', 'b/p', 'b/p/q'), ...skipped('not selected by --only', 'a', 'a/x', 'a/y', 'bb', 'c', 'c/d') },
    ],
    [
      '--only a deep leaf keeps its ancestors as containers',
      { only: ['b/p/q'] },
      {},
      { ...run('b', 'b/p', 'b/p/q'), ...skipped('not selected by --only', 'a', 'a/x', 'a/y', 'bb', 'c', 'c/d') },
    ],
    [
      '--only with a comma list and repeats',
      { only: ['a/x,a/y', 'bb'] },
      {},
      { ...run('a', 'a/x', 'a/y', 'bb'), ...skipped('not selected by --only', 'b', 'b/p', 'b/p/q', 'c', 'c/d') },
    ],
    [
      '--only a parent and --skip one of its children',
      { only: ['b'], skip: ['b/p/q'] },
      {},
      {
        ...run('b', 'b/p'),
        ...skipped('--skip b/p/q', 'b/p/q'),
        ...skipped('not selected by --only', 'a', 'a/x', 'a/y', 'bb', 'c', 'c/d'),
      },
    ],
    ['a config skip (skipIf) is inherited by children', {}, { skipC: true }, { ...ALL, ...skipped('SKIP_C=true', 'c', 'c/d') }],
    ['--skip wins over a config skip', { skip: ['c'] }, { skipC: true }, { ...ALL, ...skipped('--skip c', 'c', 'c/d') }],
  ];
  for (const [name, options, ctx, want] of cases) {
    it(name, () => {
      expect(outcome(TREE, options, { ran: [], ...ctx })).toEqual(want);
    });
  }

  it('skipIf is not asked for phases already skipped by flags', () => {
    let asked = 0;
    const tree = buildTree<Ctx>([
      {
        id: 'p',
        description: 'p',
        skipIf: () => (asked++, undefined),
        children: [{ id: 'k', description: 'k', skipIf: () => (asked++, undefined) }],
      },
    ]);
    selectPhases(tree, { skip: ['p'] }, { ran: [] }, 'test');
    expect(asked).toBe(0);
    selectPhases(tree, {}, { ran: [] }, 'test');
    expect(asked).toBe(2);
  });

  it('an unknown id is a UsageError that lists the valid ids', () => {
    for (const flag of ['skip', 'only'] as const) {
      const err = expectUsageError(() => selectPhases(TREE, { [flag]: ['a,zz'] }, { ran: [] }, 'test'));
      expect(err.message).toBe(`--${flag} zz: no such phase in \`june-ts test\``);
      expect(err.hint).toBe(`valid phase ids:\n${IDS.map((i) => `  ${i}`).join('\n')}`);
    }
    // a local id is not a full id
    expect(expectUsageError(() => selectPhases(TREE, { skip: ['x'] }, { ran: [] }, 'test')).message).toBe(
      '--skip x: no such phase in `june-ts test`',
    );
  });

  it('the same id in --skip and --only is an error', () => {
    const err = expectUsageError(() => selectPhases(TREE, { skip: ['bb'], only: ['a', 'bb'] }, { ran: [] }, 'test'));
    expect(err.message).toBe('phase bb is named by both --skip and --only');
  });

  it('a prerequisite filtered out while its dependant runs is an error naming both', () => {
    const bySkip = expectUsageError(() => selectPhases(TREE, { skip: ['a/x'] }, { ran: [] }, 'test'));
    expect(bySkip.message).toBe('phase a/y needs a/x, which is skipped (--skip a/x)');
    expect(bySkip.hint).toBe('also skip a/y, or stop skipping a/x');
    const byOnly = expectUsageError(() => selectPhases(TREE, { only: ['a/y'] }, { ran: [] }, 'test'));
    expect(byOnly.message).toBe('phase a/y needs a/x, which is skipped (not selected by --only)');
  });
});

describe('selectPhases on the real workflows', () => {
  const ctx = (sidecarsEnabled = true, data: Record<string, unknown> = {}) =>
    ({ config: { sidecarsEnabled }, data }) as unknown as WorkflowRun<never>;
  const INSTALL = flatten(WORKFLOWS.install).map((p) => p.id);
  const SIDECARS = INSTALL.filter((id) => id === '11.2-headscale-sidecars' || id.startsWith('11.2-headscale-sidecars/'));

  it('install has the documented phases', () => {
    expect(INSTALL).toEqual([
      'preflight',
      '11-headscale',
      '11-headscale/deploy',
      '11-headscale/health',
      '11.2-headscale-sidecars',
      '11.2-headscale-sidecars/users',
      '11.2-headscale-sidecars/keys',
      '11.2-headscale-sidecars/secret',
      '11.2-headscale-sidecars/policy',
      '11.2-headscale-sidecars/helm',
      '11.2-headscale-sidecars/verify',
      '11.2-headscale-sidecars/policy-tests',
      '11.5-tailnet-host',
    ]);
  });

  it('--skip 11.2-headscale-sidecars skips the whole subtree', () => {
    const got = outcome(WORKFLOWS.install, { skip: ['11.2-headscale-sidecars'] }, ctx());
    expect(
      Object.entries(got)
        .filter(([, v]) => v !== 'run')
        .map(([k]) => k),
    ).toEqual(SIDECARS);
    for (const id of SIDECARS) expect(got[id]).toBe('skipped: --skip 11.2-headscale-sidecars');
  });

  it('ENABLE_TAILSCALE_SIDECARS=false skips 11.2 exactly like the flag, with its own reason', () => {
    const byConfig = outcome(WORKFLOWS.install, {}, ctx(false));
    const byFlag = outcome(WORKFLOWS.install, { skip: ['11.2-headscale-sidecars'] }, ctx(true));
    for (const id of INSTALL) {
      if (SIDECARS.includes(id)) expect(byConfig[id]).toBe('skipped: ENABLE_TAILSCALE_SIDECARS=false');
      else expect(byConfig[id]).toBe(byFlag[id]);
    }
    // and then skipping one of its children is no prerequisite error
    expect(outcome(WORKFLOWS.install, { skip: ['11.2-headscale-sidecars/users'] }, ctx(false))['11.2-headscale-sidecars/keys']).toBe(
      'skipped: ENABLE_TAILSCALE_SIDECARS=false',
    );
  });

  it('--skip 11.2-headscale-sidecars/users while keys runs is an error naming both', () => {
    const err = expectUsageError(() => selectPhases(WORKFLOWS.install, { skip: ['11.2-headscale-sidecars/users'] }, ctx(), 'install'));
    expect(err.message).toBe(
      'phase 11.2-headscale-sidecars/keys needs 11.2-headscale-sidecars/users, which is skipped (--skip 11.2-headscale-sidecars/users)',
    );
  });

  it('--only 11.2-headscale-sidecars/secret fails: it needs keys', () => {
    const err = expectUsageError(() => selectPhases(WORKFLOWS.install, { only: ['11.2-headscale-sidecars/secret'] }, ctx(), 'install'));
    expect(err.message).toBe(
      'phase 11.2-headscale-sidecars/secret needs 11.2-headscale-sidecars/keys, which is skipped (not selected by --only)',
    );
  });

  it('--only 11.5-tailnet-host runs that phase alone', () => {
    const got = outcome(WORKFLOWS.install, { only: ['11.5-tailnet-host'] }, ctx());
    expect(
      Object.entries(got)
        .filter(([, v]) => v === 'run')
        .map(([k]) => k),
    ).toEqual(['11.5-tailnet-host']);
  });

  it('an unknown id lists the ids of that command', () => {
    const err = expectUsageError(() => selectPhases(WORKFLOWS['deploy-sidecars'], { skip: ['11-headscale'] }, ctx(), 'deploy-sidecars'));
    expect(err.message).toBe('--skip 11-headscale: no such phase in `june-ts deploy-sidecars`');
    expect(
      err
        .hint!.split('\n')
        .slice(1)
        .map((l) => l.trim()),
    ).toEqual(flatten(WORKFLOWS['deploy-sidecars']).map((p) => p.id));
  });

  it('rotate-keys: expire-old needs the proof of the new keys', () => {
    expect(expectUsageError(() => selectPhases(WORKFLOWS['rotate-keys'], { skip: ['rotate/prove'] }, ctx(), 'rotate-keys')).message).toBe(
      'phase rotate/expire-old needs rotate/prove, which is skipped (--skip rotate/prove)',
    );
  });

  it('cleanup: purge needs --purge, headscale needs --all', () => {
    expect(outcome(WORKFLOWS.cleanup, {}, ctx(true, {}))).toMatchObject({
      'cleanup/purge': 'skipped: needs --purge',
      'cleanup/headscale': 'skipped: needs --all',
      'cleanup/secrets': 'run',
    });
    expect(outcome(WORKFLOWS.cleanup, {}, ctx(true, { purge: true }))).toMatchObject({
      'cleanup/purge': 'run',
      'cleanup/headscale': 'skipped: needs --all',
    });
    expect(outcome(WORKFLOWS.cleanup, {}, ctx(true, { all: true }))).toMatchObject({ 'cleanup/purge': 'run', 'cleanup/headscale': 'run' });
  });
});

describe('runPhases', () => {
  const signal = new AbortController().signal;

  it('runs the selected phases in order and skips the others; skips are reported once per subtree', async () => {
    const ctx: Ctx = { ran: [] };
    const skips: string[] = [];
    const starts: string[] = [];
    const plans = await runPhases(selectPhases(TREE, { skip: ['b'] }, ctx, 'test'), ctx, new WriteGate('off'), signal, {
      onSkip: (p, r) => skips.push(`${p.id}: ${r}`),
      onStart: (p) => starts.push(p.id),
    });
    expect(ctx.ran).toEqual(['a/x', 'a/y', 'bb', 'c/d']);
    expect(starts).toEqual(ctx.ran);
    expect(skips).toEqual(['b: --skip b']);
    expect(plans.map((p) => [p.id, p.status, p.reason])).toEqual(
      IDS.map((id) => (id === 'b' || id.startsWith('b/') ? [id, 'skipped', '--skip b'] : [id, 'run', undefined])),
    );
  });

  it("records each phase's writes in that phase's plan in dry-run", async () => {
    const gate = new WriteGate('static');
    const tree = buildTree<Ctx>([
      {
        id: 'one',
        description: '1',
        run: async () => void (await gate.write({ kind: 'note', text: 'first hskey-auth-abc123-SECRETSECRET' }, async () => 'real', 'dry')),
      },
      { id: 'two', description: '2', run: async () => gate.record({ kind: 'delete', object: 'Secret/s', namespace: 'ns' }) },
    ]);
    const ctx: Ctx = { ran: [] };
    const plans = await runPhases(selectPhases(tree, {}, ctx, 't'), ctx, gate, signal);
    expect(plans.map((p) => p.entries)).toEqual([
      [{ kind: 'note', text: 'first <redacted>' }],
      [{ kind: 'delete', object: 'Secret/s', namespace: 'ns' }],
    ]);
  });

  it('wraps a JuneError in PhaseError with the phase id, keeping exit code and hint; later phases do not run', async () => {
    const ctx: Ctx = { ran: [] };
    const cause = new ExternalError('helm failed', {}, { hint: 'look at the logs' });
    const tree = buildTree<Ctx>([
      { id: 'p', description: 'p', children: [{ id: 'bad', description: 'fails', run: async () => Promise.reject(cause) }] },
      { id: 'after', description: 'never', run: noop('after') },
    ]);
    const err = await runPhases(selectPhases(tree, {}, ctx, 't'), ctx, new WriteGate('off'), signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PhaseError);
    expect((err as PhaseError).phaseId).toBe('p/bad');
    expect((err as PhaseError).message).toBe('phase p/bad: helm failed');
    expect((err as PhaseError).exitCode).toBe(1);
    expect((err as PhaseError).hint).toBe('look at the logs');
    expect((err as PhaseError).cause).toBe(cause);
    expect(ctx.ran).toEqual([]);
  });

  it('does not wrap a non-June error, an interruption, or an existing PhaseError', async () => {
    for (const thrown of [new TypeError('bug'), new InterruptedError(), new PhaseError('inner', new UsageError('u'))]) {
      const tree = buildTree<Ctx>([{ id: 'p', description: 'p', run: async () => Promise.reject(thrown) }]);
      const ctx: Ctx = { ran: [] };
      await expect(runPhases(selectPhases(tree, {}, ctx, 't'), ctx, new WriteGate('off'), signal)).rejects.toBe(thrown);
    }
  });

  it('a failure calls onFailure of the failed phase and its ancestors, innermost first, with the wrapped error', async () => {
    const undone: string[] = [];
    const onFailure = (id: string) => async (_ctx: Ctx, e: unknown) => void undone.push(`${id}: ${(e as Error).message}`);
    const tree = buildTree<Ctx>([
      { id: 'other', description: 'o', onFailure: onFailure('other'), run: noop('other') },
      {
        id: 'p',
        description: 'p',
        onFailure: onFailure('p'),
        children: [
          { id: 'bad', description: 'b', onFailure: onFailure('p/bad'), run: async () => Promise.reject(new ExternalError('boom')) },
        ],
      },
    ]);
    const ctx: Ctx = { ran: [] };
    await expect(runPhases(selectPhases(tree, {}, ctx, 't'), ctx, new WriteGate('off'), signal)).rejects.toThrow('phase p/bad: boom');
    expect(undone).toEqual(['p/bad: phase p/bad: boom', 'p: phase p/bad: boom']);
  });

  it('an aborted signal stops before the next phase with InterruptedError', async () => {
    const ac = new AbortController();
    const ctx: Ctx = { ran: [] };
    const tree = buildTree<Ctx>([
      { id: 'one', description: '1', run: async (c) => (c.ran.push('one'), ac.abort()) },
      { id: 'two', description: '2', run: noop('two') },
    ]);
    await expect(runPhases(selectPhases(tree, {}, ctx, 't'), ctx, new WriteGate('off'), ac.signal)).rejects.toBeInstanceOf(
      InterruptedError,
    );
    expect(ctx.ran).toEqual(['one']);
  });
});

describe('renderTree', () => {
  it('indents children and aligns descriptions', () => {
    expect(renderTree(TREE as Phase<unknown>[])).toBe(
      [
        '  a          Phase A',
        '    a/x      A x',
        '    a/y      A y needs x',
        '  b          Phase B',
        '    b/p      B p',
        '      b/p/q  B p q',
        '  bb         Not a child of b',
        '  c          Config-gated',
        '    c/d      C d',
      ].join('\n'),
    );
  });

  it('lists every phase of every workflow with its description', () => {
    for (const tree of Object.values(WORKFLOWS)) {
      const lines = renderTree(tree as Phase<unknown>[]).split('\n');
      const phases = flatten(tree);
      expect(lines).toHaveLength(phases.length);
      phases.forEach((p, i) => {
        expect(lines[i]!.startsWith(`  ${'  '.repeat(p.depth)}${p.id} `)).toBe(true);
        expect(lines[i]!.endsWith(`  ${p.description}`)).toBe(true);
      });
      const col = new Set(lines.map((l, i) => l.length - phases[i]!.description.length));
      expect(col.size).toBe(1);
    }
  });
});
