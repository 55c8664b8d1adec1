// The one test Context: a real config from a small environment, a silent logger, and seams
// that fail when a test did not hand in the one it expects to be used.
import { loadConfig } from '../../src/config/load.js';
import type { Context, WorkflowRun } from '../../src/context.js';
import { WriteGate } from '../../src/write-gate.js';
import { Logger } from '../../src/ui/logger.js';

const unexpected = (seam: string) => async (): Promise<never> => {
  throw new Error(`${seam} not expected`);
};

export interface TestContextOptions extends Partial<Omit<Context, 'config'>> {
  /** Environment the config is loaded from (HEADSCALE_DOMAIN is set unless given). */
  env?: Record<string, string>;
}

export function testContext({ env = {}, ...overrides }: TestContextOptions = {}): Context {
  const sink = { write: () => true } as unknown as NodeJS.WritableStream;
  return {
    command: 'deploy-sidecars',
    config: loadConfig({ env: { HEADSCALE_DOMAIN: 'headscale.example.com', ...env }, configPath: undefined, cwd: '/nonexistent' }),
    log: new Logger({ stdout: sink, stderr: sink, color: false }),
    gate: new WriteGate('off'),
    runner: { run: unexpected('a command') },
    signal: new AbortController().signal,
    kube: unexpected('kube'),
    kubectl: unexpected('kubectl'),
    helm: unexpected('helm'),
    headscale: unexpected('headscale'),
    tailscale: unexpected('tailscale'),
    onExit: () => {},
    ...overrides,
  };
}

/** A phase's view of a run: the context, the workflow's data, and which phases run (all, unless told). */
export function testRun<D>(ctx: Context, data: D, willRun: (phaseId: string) => boolean = () => true): WorkflowRun<D> {
  return { ...ctx, data, willRun };
}
