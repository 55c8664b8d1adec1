// Running a command's workflow: select the phases, take the run lock, run (or plan) them,
// print the plan in dry-run, run the exit hooks.
import type { WorkflowRun } from '../context.js';
import { InterruptedError } from '../errors.js';
import type { PhasePlan } from '../write-gate.js';
import { runPhases, selectPhases, type Phase, type SelectOptions } from '../phases/engine.js';
import { renderPlanJson, renderPlanText } from '../ui/plan.js';
import { createStepView } from '../ui/progress.js';
import type { GlobalOptions } from './options.js';
import { takeRunLock } from './run-lock.js';
import type { Session } from './session.js';

/** Select, run (or plan) the phases, print the plan in dry-run, run exit hooks. */
export async function executeWorkflow<D>(
  tree: readonly Phase<WorkflowRun<D>>[],
  { ctx, close }: Session,
  data: D,
  g: GlobalOptions,
  select: SelectOptions,
): Promise<PhasePlan[]> {
  const running = new Set<string>();
  const run: WorkflowRun<D> = { ...ctx, data, willRun: (id) => running.has(id) };
  const selection = selectPhases(tree, select, run, ctx.command);
  for (const s of selection) if (s.status === 'run') running.add(s.phase.id);
  const log = ctx.log;
  // a dry run prints its plan and no steps: their lines would describe writes that did not happen
  const view = ctx.gate.dryRun ? undefined : await createStepView(log);
  let plans: PhasePlan[];
  try {
    if (ctx.gate.mode === 'off') await takeRunLock(ctx);
    plans = await runPhases(selection, run, ctx.gate, ctx.signal, {
      onStart: (p) => view?.start(p.id, p.description),
      onDone: (p, ms) => view?.done(p.id, ms),
      onFail: (p, ms) => view?.failed(p.id, ms),
      onSkip: (p, reason) => view?.skipped(p.id, reason),
    });
  } catch (e) {
    if (ctx.signal.aborted && !(e instanceof InterruptedError)) throw new InterruptedError();
    throw e;
  } finally {
    view?.stop();
    await close();
  }
  if (ctx.gate.dryRun) {
    const doc = { command: ctx.command, mode: ctx.gate.mode, phases: plans };
    log.print(g.output === 'json' ? renderPlanJson(doc) : renderPlanText(doc, log));
  }
  return plans;
}
