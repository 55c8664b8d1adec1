// The phase engine, modelled on kubeadm's workflow runner: a tree of phases with stable ids
// (children joined with '/'), selection by --skip/--only, prerequisites checked before anything
// runs, every failure reported with the phase id. This module stays light: `--help` renders
// the phase tree from it.
import { BugError, ExitCode, InterruptedError, JuneError, PhaseError, UsageError } from '../errors.js';
import type { PhasePlan, PlanEntry, WriteGate } from '../write-gate.js';

export interface PhaseDef<C> {
  /** Local id; the full id is the parent's full id + '/' + this. */
  id: string;
  description: string;
  children?: PhaseDef<C>[];
  /** Full ids of phases whose results this phase needs in the same run. */
  requires?: string[];
  /** A reason to skip derived from configuration (not from flags), or undefined to run. */
  skipIf?: (ctx: C) => string | undefined;
  run?: (ctx: C) => Promise<void>;
  /**
   * Undo on failure: called when this phase or one of its descendants fails (or the run is
   * interrupted inside it), before the error goes on. It handles its own errors.
   */
  onFailure?: (ctx: C, error: unknown) => Promise<void>;
}

export interface Phase<C> {
  id: string;
  description: string;
  depth: number;
  parent: Phase<C> | undefined;
  children: Phase<C>[];
  requires: string[];
  skipIf: ((ctx: C) => string | undefined) | undefined;
  run: ((ctx: C) => Promise<void>) | undefined;
  onFailure: ((ctx: C, error: unknown) => Promise<void>) | undefined;
}

/**
 * A value one phase hands on to later phases of the same run. The phase that reads it
 * names the producing phase in `requires`, so reading it unset is a bug in june-ts.
 */
export class Handoff<T> {
  private value: { v: T } | undefined;
  constructor(readonly what: string) {}

  set(value: T): T {
    this.value = { v: value };
    return value;
  }

  get(): T {
    if (!this.value) throw new BugError(`${this.what} was read before the phase that produces it ran`);
    return this.value.v;
  }

  /** The value, or undefined when no phase produced it (yet). */
  peek(): T | undefined {
    return this.value?.v;
  }
}

export function buildTree<C>(defs: readonly PhaseDef<C>[], parent?: Phase<C>): Phase<C>[] {
  return defs.map((d) => {
    const phase: Phase<C> = {
      id: parent ? `${parent.id}/${d.id}` : d.id,
      description: d.description,
      depth: parent ? parent.depth + 1 : 0,
      parent,
      children: [],
      requires: d.requires ?? [],
      skipIf: d.skipIf,
      run: d.run,
      onFailure: d.onFailure,
    };
    phase.children = buildTree(d.children ?? [], phase);
    return phase;
  });
}

/** Depth-first, in execution order. */
export function flatten<C>(tree: readonly Phase<C>[]): Phase<C>[];
/** Any workflow's tree, whatever its data (for listing ids and descriptions). */
export function flatten(tree: readonly Phase<never>[]): Phase<never>[];
export function flatten(tree: readonly Phase<never>[]): Phase<never>[] {
  return tree.flatMap((p) => [p, ...flatten(p.children)]);
}

export interface Selection<C> {
  phase: Phase<C>;
  status: 'run' | 'skipped';
  reason?: string;
}

export interface SelectOptions {
  skip?: readonly string[];
  only?: readonly string[];
}

/** `--skip a,b --skip c` → ['a','b','c'] */
export function splitIds(values: readonly string[] | undefined): string[] {
  return (values ?? [])
    .flatMap((v) => v.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
}

function isSelfOrDescendant<C>(p: Phase<C>, ancestorId: string): boolean {
  return p.id === ancestorId || p.id.startsWith(`${ancestorId}/`);
}

export function selectPhases<C>(tree: readonly Phase<C>[], options: SelectOptions, ctx: C, command: string): Selection<C>[] {
  const all = flatten(tree);
  const ids = all.map((p) => p.id);
  const skip = splitIds(options.skip);
  const only = splitIds(options.only);
  for (const [flag, list] of [
    ['--skip', skip],
    ['--only', only],
  ] as const) {
    for (const id of list) {
      if (!ids.includes(id)) {
        throw new UsageError(`${flag} ${id}: no such phase in \`june-ts ${command}\``, {
          hint: `valid phase ids:\n${ids.map((i) => `  ${i}`).join('\n')}`,
        });
      }
    }
  }
  const both = skip.find((id) => only.includes(id));
  if (both) throw new UsageError(`phase ${both} is named by both --skip and --only`, { hint: 'name each phase in one of them' });

  const selection = all.map((phase): Selection<C> => {
    const skippedBy = skip.find((id) => isSelfOrDescendant(phase, id));
    if (skippedBy) return { phase, status: 'skipped', reason: `--skip ${skippedBy}` };
    // --only keeps the named phases, their descendants, and their ancestors as containers
    if (only.length && !only.some((id) => isSelfOrDescendant(phase, id) || id.startsWith(`${phase.id}/`))) {
      return { phase, status: 'skipped', reason: 'not selected by --only' };
    }
    return { phase, status: 'run' };
  });

  // Config-driven skips (RunIf), inherited by children.
  const byId = new Map(selection.map((s) => [s.phase.id, s]));
  for (const s of selection) {
    if (s.status !== 'run') continue;
    const parentSel = s.phase.parent ? byId.get(s.phase.parent.id) : undefined;
    if (parentSel && parentSel.status === 'skipped') {
      s.status = 'skipped';
      s.reason = parentSel.reason;
      continue;
    }
    const reason = s.phase.skipIf?.(ctx);
    if (reason) {
      s.status = 'skipped';
      s.reason = reason;
    }
  }

  // A phase whose prerequisite was filtered out by flags fails before anything runs.
  for (const s of selection) {
    if (s.status !== 'run') continue;
    for (const req of s.phase.requires) {
      const r = byId.get(req);
      if (r && r.status === 'skipped') {
        throw new UsageError(`phase ${s.phase.id} needs ${req}, which is skipped (${r.reason})`, {
          hint: `also skip ${s.phase.id}, or stop skipping ${req}`,
        });
      }
    }
  }
  return selection;
}

export interface RunHooks {
  onStart?(phase: Phase<unknown>): void;
  onDone?(phase: Phase<unknown>, ms: number): void;
  onFail?(phase: Phase<unknown>, ms: number): void;
  onSkip?(phase: Phase<unknown>, reason: string): void;
}

/** Runs the selected phases in order; in dry-run the gate records each phase's writes. */
export async function runPhases<C>(
  selection: readonly Selection<C>[],
  ctx: C,
  gate: WriteGate,
  signal: AbortSignal,
  hooks: RunHooks = {},
): Promise<PhasePlan[]> {
  const plans: PhasePlan[] = [];
  for (const s of selection) {
    const entries: PlanEntry[] = [];
    const plan: PhasePlan = { id: s.phase.id, description: s.phase.description, status: s.status, entries };
    if (s.reason) plan.reason = s.reason;
    plans.push(plan);
    if (s.status === 'skipped') {
      // report a skipped subtree once, at its top
      if (!s.phase.parent || selection.find((x) => x.phase === s.phase.parent)?.status !== 'skipped') {
        hooks.onSkip?.(s.phase as Phase<unknown>, s.reason ?? '');
      }
      continue;
    }
    const run = s.phase.run;
    if (!run) continue;
    const started = performance.now();
    let begun = false;
    try {
      if (signal.aborted) throw new InterruptedError();
      hooks.onStart?.(s.phase as Phase<unknown>);
      begun = true;
      await gate.collect(entries, () => run(ctx));
    } catch (e) {
      const wrap = e instanceof JuneError && !(e instanceof PhaseError) && e.exitCode !== ExitCode.interrupted;
      const error = wrap ? new PhaseError(s.phase.id, e) : e;
      if (begun) hooks.onFail?.(s.phase as Phase<unknown>, performance.now() - started);
      await undo(s.phase, ctx, error, signal);
      throw error;
    }
    hooks.onDone?.(s.phase as Phase<unknown>, performance.now() - started);
  }
  return plans;
}

/** The onFailure of the failed phase and of its ancestors, innermost first. */
async function undo<C>(phase: Phase<C>, ctx: C, error: unknown, signal: AbortSignal): Promise<void> {
  for (let p: Phase<C> | undefined = phase; p; p = p.parent) {
    try {
      await p.onFailure?.(ctx, error);
    } catch (e) {
      // an interrupted run reports the interruption, not a failed undo
      if (!signal.aborted) throw e;
    }
  }
}

/** The phase tree as text, for `june-ts phases` and `--help`. */
export function renderTree(tree: readonly Phase<never>[]): string {
  const rows = flatten(tree).map((p) => ({ label: `${'  '.repeat(p.depth)}${p.id}`, desc: p.description }));
  const width = Math.max(...rows.map((r) => r.label.length));
  return rows.map((r) => `  ${r.label.padEnd(width)}  ${r.desc}`).join('\n');
}
