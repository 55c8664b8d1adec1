// 11.2's policy step and cleanup's release against fake seams: written once, nothing on a
// re-run, updated with a diff when the config changes, an operator's policy left byte for
// byte (and how to adopt it said), adopt on request, file mode explained, purge removes only
// june-ts's own.
import { describe, expect, it } from 'vitest';
import type { Context } from '../../src/context.js';
import { policyOwnership } from '../../src/domain/policy-marker.js';
import { parseHuJson } from '../../src/domain/policy-read.js';
import { releasedPolicy } from '../../src/domain/policy-render.js';
import { policyCheck } from '../../src/doctor/post.js';
import { applyPolicyPhase, policyState, provePolicyPhase, releasePolicyPhase } from '../../src/phases/policy.js';
import { Logger } from '../../src/ui/logger.js';
import { WriteGate, type PlanEntry } from '../../src/write-gate.js';
import { testContext } from '../helpers/context.js';
import { FakeHeadscale, fakeNode } from '../helpers/fake-seams.js';

const OPERATOR = '// ours\n{"acls":[{"action":"accept","src":["group:ops"],"dst":["*:22"]}]}\n';

function setup(env: Record<string, string> = {}, gate = new WriteGate('off')) {
  const hs = new FakeHeadscale();
  hs.gate = gate;
  const logs: string[] = [];
  const sink = { write: (t: string) => logs.push(t) > 0 } as unknown as NodeJS.WritableStream;
  const helm = { values: async () => null };
  const ctx: Context = {
    ...testContext({ env: { TAILNET_EDGES: 'orchestrator->idp', ...env }, headscale: async () => hs, helm: async () => helm as never }),
    log: new Logger({ stdout: sink, stderr: sink, color: false }),
    gate,
  };
  return { hs, ctx, log: () => logs.join('') };
}

const stored = (hs: FakeHeadscale) => (hs.policy.kind === 'stored' ? hs.policy.text : undefined);

describe('11.2 access policy', () => {
  it('writes the policy once; a re-run writes nothing', async () => {
    const { hs, ctx, log } = setup();
    await applyPolicyPhase(ctx);
    expect(hs.policyWrites).toEqual([
      {
        action: 'create',
        rules: 3,
        changes: [
          '+ june-host@ → june-orchestrator@ tcp/8080',
          '+ june-host@ → june-idp@ tcp/8080',
          '+ june-orchestrator@ → june-idp@ tcp/8080',
        ],
      },
    ]);
    expect(policyOwnership(stored(hs))).toMatchObject({ state: 'owned' });
    await applyPolicyPhase(ctx);
    expect(hs.policyWrites).toHaveLength(1);
    expect(log()).toContain('access policy is up to date (3 rules)');
  });

  it('0.29: the tests block names the nodes present, and a new node alone rewrites nothing', async () => {
    const { hs, ctx } = setup();
    hs.nodes = [fakeNode('1', 'june-orchestrator'), fakeNode('2', 'june-idp')];
    await applyPolicyPhase(ctx);
    const doc = parseHuJson(stored(hs)!) as { tests: { src: string }[] };
    expect(doc.tests.map((t) => t.src)).toEqual(['june-orchestrator@', 'june-idp@']);
    hs.nodes.push(fakeNode('3', 'june-host'));
    await applyPolicyPhase(ctx);
    expect(hs.policyWrites).toHaveLength(1);
  });

  it('TAILNET_IDENTITY=tag: tags as the services, tagOwners declared, tests name the tagged nodes (not a user of the same name)', async () => {
    const { hs, ctx, log } = setup({ TAILNET_IDENTITY: 'tag' });
    hs.nodes = [
      fakeNode('1', 'june-orchestrator', 'tagged-devices', ['tag:june-orchestrator']),
      fakeNode('2', 'june-idp', 'june-idp'),
      fakeNode('3', 'june-e2e-host', 'june-host'),
    ];
    await applyPolicyPhase(ctx);
    expect(hs.policyWrites[0]!.changes).toContain('+ tag:june-orchestrator → tag:june-idp tcp/8080');
    const doc = parseHuJson(stored(hs)!) as { tagOwners: unknown; tests: { src: string; accept?: string[] }[] };
    expect(doc.tagOwners).toEqual({ 'tag:june-orchestrator': [], 'tag:june-idp': [] });
    expect(doc.tests.map((t) => t.src)).toEqual(['june-host@', 'tag:june-orchestrator']);
    expect(doc.tests[0]!.accept).toEqual(['tag:june-orchestrator:8080']);
    await provePolicyPhase(ctx);
    expect(log()).toContain('access policy proven by Headscale: 2 tests');
  });

  it('a config change updates the policy, the plan shows the diff', async () => {
    const first = setup({ TAILNET_EDGES: 'orchestrator->idp' });
    await applyPolicyPhase(first.ctx);
    const { hs, ctx } = setup({ TAILNET_EDGES: 'idp->orchestrator', TAILNET_ADMINS: 'alice' });
    hs.policy = first.hs.policy;
    await applyPolicyPhase(ctx);
    expect(hs.policyWrites[0]).toMatchObject({
      action: 'update',
      changes: [
        '+ june-host@, alice@ → june-orchestrator@ tcp/8080',
        '+ june-host@, alice@ → june-idp@ tcp/8080',
        '+ june-idp@ → june-orchestrator@ tcp/8080',
        '- june-host@ → june-orchestrator@ tcp/8080',
        '- june-host@ → june-idp@ tcp/8080',
        '- june-orchestrator@ → june-idp@ tcp/8080',
      ],
    });
  });

  it("an operator's policy is left byte for byte; the log says what it lacks and how to adopt it", async () => {
    const { hs, ctx, log } = setup();
    hs.policy = { kind: 'stored', text: OPERATOR };
    await applyPolicyPhase(ctx);
    expect(hs.policyWrites).toEqual([]);
    expect(stored(hs)).toBe(OPERATOR);
    expect(log()).toContain('Headscale holds an access policy june-ts did not write: left as it is.');
    expect(log()).toContain('It does not grant: june-host@ → june-orchestrator@ tcp/8080;');
    expect(log()).toContain('TAILNET_POLICY=adopt');
    expect(log()).toContain('june-orchestrator@ → june-idp@ tcp/8080');
  });

  it("june-ts's policy edited by hand is left too", async () => {
    const { hs, ctx, log } = setup();
    await applyPolicyPhase(ctx);
    const edited = stored(hs)!.replace('tcp:8080', 'tcp:8081');
    hs.policy = { kind: 'stored', text: edited };
    await applyPolicyPhase(ctx);
    expect(stored(hs)).toBe(edited);
    expect(log()).toContain("june-ts's policy was edited by hand: left as it is.");
  });

  it('TAILNET_POLICY=adopt replaces a foreign policy, saying so in the plan', async () => {
    const plan: PlanEntry[] = [];
    const gate = new WriteGate('live');
    const { hs, ctx } = setup({ TAILNET_POLICY: 'adopt' }, gate);
    hs.policy = { kind: 'stored', text: OPERATOR };
    await gate.collect(plan, () => applyPolicyPhase(ctx));
    expect(stored(hs)).toBe(OPERATOR);
    expect(plan).toMatchObject([
      { kind: 'headscale', action: 'set policy', args: { action: 'update', replaces: 'a policy june-ts did not write (foreign)' } },
    ]);
    hs.gate = undefined;
    await applyPolicyPhase(ctx);
    expect(policyOwnership(stored(hs))).toMatchObject({ state: 'owned' });
  });

  it('a dry run records the write (with its diff) and does not write', async () => {
    const plan: PlanEntry[] = [];
    const gate = new WriteGate('live');
    const { hs, ctx } = setup({}, gate);
    await gate.collect(plan, () => applyPolicyPhase(ctx));
    expect(hs.policyWrites).toEqual([]);
    expect(plan).toHaveLength(1);
    expect(plan[0]).toMatchObject({ kind: 'headscale', action: 'set policy', args: { action: 'create', rules: 3 } });
  });

  it('file mode: nothing written, the log and the plan say why and what to do', async () => {
    const plan: PlanEntry[] = [];
    const gate = new WriteGate('live');
    const { hs, ctx, log } = setup({}, gate);
    hs.policy = { kind: 'file-mode', reason: 'reading policy from path ""' };
    await gate.collect(plan, () => applyPolicyPhase(ctx));
    expect(hs.policyWrites).toEqual([]);
    expect(log()).toContain('policy.mode: database');
    expect(plan).toMatchObject([{ kind: 'note' }]);
  });

  it('TAILNET_POLICY=off: not even read', async () => {
    const { hs, ctx, log } = setup({ TAILNET_POLICY: 'off' });
    hs.getPolicy = async () => {
      throw new Error('not expected');
    };
    await applyPolicyPhase(ctx);
    expect(log()).toContain('june-ts writes no access policy');
  });

  it('a service without a port in the chart values is a config error naming it', async () => {
    const { ctx } = setup();
    const helm = { values: async () => ({ services: { idp: { port: 'http' } } }) };
    await expect(applyPolicyPhase({ ...ctx, helm: async () => helm as never })).rejects.toThrow(/services\.idp\.port is "http"/);
  });

  it('policy-tests asks Headscale to check only where it can (0.29+) and only its own current policy', async () => {
    const { hs, ctx, log } = setup();
    let checked = 0;
    hs.checkPolicy = async () => {
      checked++;
      return true;
    };
    await provePolicyPhase(ctx);
    expect(checked).toBe(0);
    await applyPolicyPhase(ctx);
    hs.nodes = [fakeNode('1', 'june-orchestrator'), fakeNode('2', 'june-idp')];
    await provePolicyPhase(ctx);
    expect(checked).toBe(1);
    expect(log()).toContain('access policy proven by Headscale: 2 tests');
    hs.version = async () => ({ major: 0, minor: 26, patch: 1, raw: 'v0.26.1', generation: 'v026', source: 'reported' });
    await provePolicyPhase(ctx);
    expect(checked).toBe(1);
  });
});

describe('cleanup --purge: the access policy', () => {
  it("releases june-ts's policy to Headscale's default; a second run does nothing", async () => {
    const { hs, ctx } = setup();
    await applyPolicyPhase(ctx);
    expect(await releasePolicyPhase(ctx)).toBe(1);
    expect(stored(hs)).toBe(releasedPolicy());
    expect(hs.policyWrites.at(-1)).toMatchObject({ action: 'release', rules: 0 });
    expect(await releasePolicyPhase(ctx)).toBe(0);
    expect(hs.policyWrites).toHaveLength(2);
    await applyPolicyPhase(ctx);
    expect(policyOwnership(stored(hs))).toMatchObject({ state: 'owned' });
  });

  it('leaves any other policy, and an absent one, alone', async () => {
    const { hs, ctx } = setup();
    hs.policy = { kind: 'stored', text: OPERATOR };
    expect(await releasePolicyPhase(ctx)).toBe(0);
    expect(stored(hs)).toBe(OPERATOR);
    hs.policy = { kind: 'none' };
    expect(await releasePolicyPhase(ctx)).toBe(0);
    expect(hs.policyWrites).toEqual([]);
  });
});

describe('the policy in force, for status and doctor', () => {
  it("june-ts's current policy: ok", async () => {
    const { ctx } = setup();
    await applyPolicyPhase(ctx);
    const p = await policyState(ctx);
    expect(p).toEqual({ mode: 'managed', state: 'owned', current: true, missing: [], level: 'ok', problem: null });
    expect(policyCheck(p)).toMatchObject({ ok: true });
  });

  it('a policy replaced by hand: red, and doctor names the missing rule and the fix', async () => {
    const { hs, ctx } = setup();
    hs.policy = {
      kind: 'stored',
      text: '{"acls":[{"action":"accept","src":["june-host@"],"dst":["june-orchestrator@:8080","june-idp@:8080"]}]}',
    };
    const p = await policyState(ctx);
    expect(p).toMatchObject({ state: 'foreign', level: 'error', missing: ['june-orchestrator@ → june-idp@ tcp/8080'] });
    const check = policyCheck(p);
    expect(check).toMatchObject({ ok: false, level: 'error' });
    expect(check.detail).toContain('june-orchestrator@ → june-idp@ tcp/8080');
    expect(check.fix).toContain('TAILNET_POLICY=adopt');
  });

  it('an operator policy that grants everything needed is fine; no policy at all is amber', async () => {
    const { hs, ctx } = setup();
    hs.policy = { kind: 'stored', text: '{"acls":[{"action":"accept","src":["*"],"dst":["*:*"]}]}' };
    expect(await policyState(ctx)).toMatchObject({ state: 'foreign', level: 'ok', missing: [] });
    hs.policy = { kind: 'none' };
    const none = await policyState(ctx);
    expect(none).toMatchObject({ state: 'absent', level: 'warn' });
    expect(policyCheck(none)).toMatchObject({ ok: false, level: 'warn' });
  });

  it("june-ts's own policy from an older config: red, naming the rule it lacks", async () => {
    const old = setup({ TAILNET_EDGES: 'orchestrator->idp' });
    await applyPolicyPhase(old.ctx);
    const { hs, ctx } = setup({ TAILNET_EDGES: 'idp->orchestrator' });
    hs.policy = old.hs.policy;
    const p = await policyState(ctx);
    expect(p).toMatchObject({ state: 'owned', current: false, level: 'error', missing: ['june-idp@ → june-orchestrator@ tcp/8080'] });
    expect(policyCheck(p).fix).toContain('june-ts deploy-sidecars');
  });

  it('off: nothing read; unreadable Headscale: unknown, amber', async () => {
    const off = setup({ TAILNET_POLICY: 'off' });
    off.hs.getPolicy = async () => {
      throw new Error('not expected');
    };
    expect(await policyState(off.ctx)).toMatchObject({ state: 'off', level: 'ok' });
    const { hs, ctx } = setup();
    hs.getPolicy = async () => {
      throw new Error('connection refused');
    };
    expect(await policyState(ctx)).toMatchObject({
      state: 'unknown',
      level: 'warn',
      problem: 'cannot read the access policy: connection refused',
    });
  });
});
