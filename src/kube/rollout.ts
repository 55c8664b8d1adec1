// Waiting for Deployments to roll out: all of them read concurrently, a short poll, bounded.
import { ExternalError, InterruptedError } from '../errors.js';
import type { DeploymentInfo } from './types.js';

export function rolledOut(d: DeploymentInfo | null): boolean {
  if (!d) return false;
  return (
    d.observedGeneration >= d.generation &&
    d.updatedReplicas >= d.replicas &&
    d.currentReplicas <= d.updatedReplicas &&
    d.availableReplicas >= d.replicas &&
    d.readyReplicas >= d.replicas
  );
}

/** What a rollout still waits for, e.g. `june-idp 0/1 ready, june-orchestrator 1/2 updated`. */
export function describeRollout(names: string[], states: (DeploymentInfo | null)[]): string {
  return names
    .map((n, i) => {
      const d = states[i];
      if (!d) return `${n} not created yet`;
      if (d.updatedReplicas < d.replicas) return `${n} ${d.updatedReplicas}/${d.replicas} updated`;
      if (d.readyReplicas < d.replicas || d.availableReplicas < d.replicas) return `${n} ${d.readyReplicas}/${d.replicas} ready`;
      return `${n} old pods terminating`;
    })
    .join(', ');
}

/** 50, 100, 200, then every 250 ms. */
export const pollDelayMs = (poll: number): number => Math.min(250, 50 * 2 ** poll);

/** The named Deployments of a namespace as they are now (null: not there), in order. */
export type ReadDeployments = (namespace: string, names: string[]) => Promise<(DeploymentInfo | null)[]>;

export async function waitForRollout(
  readDeployments: ReadDeployments,
  namespace: string,
  names: string[],
  timeoutMs: number,
  signal?: AbortSignal,
  onWait?: (text: string) => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending = names;
  for (let poll = 0; pending.length; poll++) {
    const states = await readDeployments(namespace, pending);
    const waiting = pending.map((_, i) => !rolledOut(states[i] ?? null));
    const left = states.filter((_, i) => waiting[i]);
    pending = pending.filter((_, i) => waiting[i]);
    if (!pending.length) return;
    onWait?.(describeRollout(pending, left));
    if (signal?.aborted) throw new InterruptedError();
    if (Date.now() > deadline) {
      throw new ExternalError(
        `Deployments not rolled out after ${Math.round(timeoutMs / 1000)}s: ${pending.join(', ')}`,
        {},
        {
          hint: `inspect with: kubectl -n ${namespace} get pods; kubectl -n ${namespace} describe deployment ${pending[0]}`,
        },
      );
    }
    // A short poll: most rollouts june-ts starts finish within a few seconds; a small one
    // often within the first tenths of a second, so the first polls come sooner.
    await new Promise((r) => setTimeout(r, pollDelayMs(poll)));
  }
}
