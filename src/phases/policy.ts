// The access policy in Headscale: written by 11.2 (and deploy-sidecars) through the write gate,
// proven by Headscale's own tests on 0.29+, released by `cleanup --purge`. A policy june-ts
// did not write is never replaced unless TAILNET_POLICY=adopt says so.
import type { Context } from '../context.js';
import { describeRules, diffRules, policyDialectOf, userPrincipal, type PolicyDialect, type PolicyInput } from '../domain/policy.js';
import { parseHuJson, rulesIn } from '../domain/policy-read.js';
import { releasedPolicy, renderPolicy, type RenderedPolicy } from '../domain/policy-render.js';
import { judgePolicy, reportPolicy, type PolicyReport, type PolicyVerdict } from '../domain/policy-verdict.js';
import { DegradedError } from '../errors.js';
import type { HeadscaleClient, HeadscaleRead, HsPolicy } from '../headscale/types.js';
import { checksPolicy, formatVersion } from '../headscale/types.js';
import { readServicePorts } from './platform-services.js';

export function policyInput(config: Context['config'], ports: ReadonlyMap<string, readonly number[]>): PolicyInput {
  return {
    services: config.services.map((name) => ({ name, ports: ports.get(name) ?? [] })),
    admins: config.policy.admins,
    edges: config.policy.edges,
    identity: { tailnetIdentity: config.tailnetIdentity },
  };
}

/**
 * The principals that own a node now: the only ones a 0.29 tests block may name. A tagged
 * node (a service with TAILNET_IDENTITY=tag) belongs to its tags, any other to its user.
 */
async function principalsWithNodes(hs: HeadscaleClient, dialect: PolicyDialect): Promise<Set<string>> {
  if (dialect !== 'v029') return new Set();
  return new Set((await hs.listNodes()).flatMap((n) => (n.tags?.length ? n.tags : [userPrincipal(n.user, dialect)])));
}

export interface PolicyPlan {
  dialect: PolicyDialect;
  wanted: RenderedPolicy;
  stored: HsPolicy;
  verdict: PolicyVerdict;
}

/** What planPolicy asks of a Headscale of `version`. */
export function policyReads(version: { major: number; minor: number }): HeadscaleRead[] {
  return policyDialectOf(version) === 'v029' ? ['policy', 'nodes'] : ['policy'];
}

/** What Headscale holds and what june-ts wants, judged. Reads only. */
export async function planPolicy(ctx: Pick<Context, 'config' | 'helm' | 'headscale'>): Promise<PolicyPlan> {
  const hs = await ctx.headscale();
  const dialect = policyDialectOf(await hs.version());
  const input = policyInput(ctx.config, await readServicePorts(ctx));
  const [stored, present] = await Promise.all([hs.getPolicy(), principalsWithNodes(hs, dialect)]);
  const wanted = renderPolicy(input, dialect, present);
  return { dialect, wanted, stored, verdict: judgePolicy(stored, wanted) };
}

/** How to let june-ts manage a policy it did not write, or merge its rules into one. */
function adoptionHint(plan: PolicyPlan): string {
  return [
    'to let june-ts manage the access policy, save the current one (`headscale policy get`) and re-run with TAILNET_POLICY=adopt;',
    'to keep your own, add these rules to it and set TAILNET_POLICY=off:',
    ...describeRules(plan.wanted.rules).map((r) => `    ${r}`),
  ].join('\n  ');
}

export async function applyPolicyPhase(ctx: Context): Promise<void> {
  const mode = ctx.config.policy.mode;
  if (mode === 'off') {
    ctx.log.info('  TAILNET_POLICY=off: june-ts writes no access policy');
    return;
  }
  const plan = await planPolicy(ctx);
  const { verdict, wanted, stored } = plan;
  if (verdict.state === 'file-mode') {
    const text = `Headscale reads its access policy from a file (policy.mode: file; ${stored.kind === 'file-mode' ? stored.reason : ''}): june-ts cannot write it. Run Headscale with policy.mode: database (the june-ts chart does unless headscale.policy is set), or put june-ts's rules in that file`;
    ctx.log.warn(text);
    ctx.gate.record({ kind: 'note', text: `access policy left alone: ${text}` });
    return;
  }
  if (verdict.current) {
    ctx.log.info(`  access policy is up to date (${wanted.rules.length} rules)`);
    return;
  }
  const foreign = verdict.state === 'foreign' || verdict.state === 'edited';
  if (foreign && mode !== 'adopt') {
    const whose =
      verdict.state === 'edited' ? "june-ts's policy was edited by hand" : 'Headscale holds an access policy june-ts did not write';
    const missing = verdict.missing.length ? ` It does not grant: ${describeRules(verdict.missing).join('; ')}.` : '';
    const text = `${whose}: left as it is.${missing}\n  ${adoptionHint(plan)}`;
    ctx.log.warn(text);
    ctx.gate.record({ kind: 'note', text: `access policy left alone: ${text}` });
    return;
  }
  const before = stored.kind === 'stored' && verdict.state === 'owned' ? rulesIn(parseHuJson(stored.text)) : [];
  const action = foreign ? 'adopt' : verdict.state === 'owned' ? 'update' : 'create';
  const changes = foreign ? describeRules(wanted.rules).map((r) => `+ ${r}`) : diffRules(before, wanted.rules);
  const hs = await ctx.headscale();
  await hs.setPolicy(wanted.text, {
    action: action === 'adopt' ? 'update' : action,
    rules: wanted.rules.length,
    ...(action === 'adopt' ? { replaces: `a policy june-ts did not write (${verdict.state})` } : {}),
    changes,
    ...(wanted.tests.length ? { tests: wanted.tests.length } : {}),
  });
  ctx.log.info(
    `  access policy ${action === 'create' ? 'written' : action === 'adopt' ? 'adopted and replaced' : 'updated'} (${wanted.rules.length} rules${wanted.tests.length ? `, ${wanted.tests.length} tests passed in Headscale` : ''})`,
  );
  for (const c of changes) ctx.log.info(`    ${c}`);
}

/**
 * Headscale 0.29+ runs a policy's tests against the nodes it knows. After the sidecars are
 * online, june-ts asks it to check its rules with every pair the nodes now allow (a check,
 * not a write), so the rules are proven even when the written tests block was small.
 */
export async function provePolicyPhase(ctx: Context): Promise<void> {
  if (ctx.config.policy.mode === 'off') return;
  const hs = await ctx.headscale();
  const version = await hs.version();
  if (!checksPolicy(version)) {
    ctx.log.info(`  Headscale ${formatVersion(version)} has no policy tests (0.29+): proven by traffic only`);
    return;
  }
  const plan = await planPolicy(ctx);
  if (!plan.verdict.current || !plan.wanted.tests.length) return;
  try {
    await hs.checkPolicy(plan.wanted.text);
  } catch (e) {
    throw new DegradedError(`Headscale's tests of june-ts's access policy failed: ${(e as Error).message}`, {
      hint: 'run `june-ts doctor`; the policy in force was not changed',
    });
  }
  ctx.log.info(`  access policy proven by Headscale: ${plan.wanted.tests.length} tests over the nodes online`);
}

/** cleanup --purge: june-ts's policy goes back to Headscale's default; any other policy stays. */
export async function releasePolicyPhase(ctx: Context): Promise<number> {
  const hs = await ctx.headscale();
  const stored = await hs.getPolicy();
  if (stored.kind !== 'stored') {
    ctx.log.info('  no access policy in Headscale');
    return 0;
  }
  const own = judgePolicy(stored, { rules: [], digest: '' });
  if (own.state === 'released') {
    ctx.log.info('  access policy already released');
    return 0;
  }
  if (own.state !== 'owned') {
    ctx.log.info(`  the access policy is not june-ts's (${own.state}): left as it is`);
    return 0;
  }
  const rules = rulesIn(parseHuJson(stored.text));
  await hs.setPolicy(releasedPolicy(), { action: 'release', rules: 0, changes: describeRules(rules).map((r) => `- ${r}`) });
  ctx.log.info(`  removed june-ts's access policy (${rules.length} rules); Headscale's default applies again`);
  return 1;
}

/** The access policy's state for status and doctor (reads only; never throws). */
export async function policyState(ctx: Pick<Context, 'config' | 'helm' | 'headscale'>): Promise<PolicyReport> {
  const mode = ctx.config.policy.mode;
  if (mode === 'off') return reportPolicy(mode, { error: '' });
  try {
    return reportPolicy(mode, (await planPolicy(ctx)).verdict);
  } catch (e) {
    return reportPolicy(mode, { error: (e as Error).message });
  }
}
