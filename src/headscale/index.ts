// The Headscale access layer: the HeadscaleClient seam (./types.ts) and how it is built.
//   exec    — Headscale's CLI inside the Headscale pod, via `kubectl exec` (default)
//   api     — the REST API with an API key (needed to expire keys on Headscale < 0.28)
//   offline — static dry-run without a cluster (./offline.ts)
// exec and api are one client (./client.ts) over a different wire (./cli-wire.ts,
// ./http-wire.ts), speaking the dialect of the detected version (./dialects.ts).

import { UsageError } from '../errors.js';
import type { WriteGate } from '../write-gate.js';
import type { ProcessRunner } from '../process/runner.js';
import { Headscale } from './client.js';
import { CliWire, kubectlExecPrefix, type KubectlExecOptions } from './cli-wire.js';
import { HttpWire } from './http-wire.js';
import { OfflineHeadscale } from './offline.js';
import type { HeadscaleClient } from './types.js';

export * from './types.js';
export { kubectlExecPrefix } from './cli-wire.js';
export { OfflineHeadscale } from './offline.js';
export { DRY_RUN_KEY } from './common.js';

interface Common {
  gate: WriteGate;
  /** Skip detection and speak this version's dialect (e.g. `0.26.1`). */
  assumeVersion?: string;
  concurrency?: number;
}

export type HeadscaleClientOptions =
  | (Common & {
      transport: 'exec';
      runner: ProcessRunner;
      /** Build the argv prefix from kubectl options… */
      kubectl?: KubectlExecOptions;
      /** …or give it directly (tests: `[headscaleBinary, '-c', config]`). */
      prefix?: readonly string[];
      env?: Record<string, string | undefined>;
      timeoutMs?: number;
    })
  | (Common & {
      transport: 'api';
      url: string;
      apiKey: string;
      timeoutMs?: number;
      fetch?: typeof fetch;
    })
  | { transport: 'offline'; gate: WriteGate; assumeVersion?: string };

export function createHeadscaleClient(o: HeadscaleClientOptions): HeadscaleClient {
  switch (o.transport) {
    case 'exec': {
      const prefix = o.prefix ?? (o.kubectl ? kubectlExecPrefix(o.kubectl) : undefined);
      if (!prefix) throw new UsageError('the exec transport needs kubectl options or an argv prefix');
      const where = o.kubectl ? `kubectl -n ${o.kubectl.namespace} get deployment/${o.kubectl.deployment ?? 'headscale'}` : undefined;
      const stdinPrefix = o.kubectl ? kubectlExecPrefix({ ...o.kubectl, stdin: true }) : prefix;
      return new Headscale(new CliWire({ runner: o.runner, prefix, stdinPrefix, env: o.env, timeoutMs: o.timeoutMs, where }), o);
    }
    case 'api':
      if (!o.url || !o.apiKey) {
        throw new UsageError('the Headscale API transport needs a URL and an API key', {
          hint: 'set HEADSCALE_API_URL and HEADSCALE_API_KEY',
        });
      }
      return new Headscale(new HttpWire(o), o);
    case 'offline':
      return new OfflineHeadscale(o.gate, o.assumeVersion);
  }
}
