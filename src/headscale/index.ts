// The Headscale access layer: one HeadscaleClient interface, three transports.
//   exec    — the headscale CLI inside the Headscale pod, via `kubectl exec` (default)
//   api     — the REST API with an API key (needed to expire keys on Headscale < 0.28)
//   offline — static dry-run without a cluster

import { UsageError } from '../errors.js';
import type { WriteGate } from '../write-gate.js';
import type { ProcessRunner } from '../process/runner.js';
import { HeadscaleApiClient } from './api-transport.js';
import { HeadscaleCliClient, kubectlExecPrefix, type KubectlExecOptions } from './cli-transport.js';
import { OfflineHeadscale } from './offline.js';
import type { HeadscaleClient } from './types.js';

export * from './types.js';
export { HeadscaleCliClient, kubectlExecPrefix, type KubectlExecOptions, type CliTransportOptions } from './cli-transport.js';
export { HeadscaleApiClient, type ApiTransportOptions } from './api-transport.js';
export { OfflineHeadscale, OFFLINE_DEFAULT_VERSION } from './offline.js';
export { DRY_RUN_KEY, DRY_RUN_ID, parseDuration, validateUserName } from './common.js';

export type HeadscaleClientOptions =
  | {
      transport: 'exec';
      runner: ProcessRunner;
      gate: WriteGate;
      /** Build the argv prefix from kubectl options… */
      kubectl?: KubectlExecOptions;
      /** …or give it directly (tests: `[headscaleBinary, '-c', config]`). */
      prefix?: readonly string[];
      env?: Record<string, string | undefined>;
      assumeVersion?: string;
      concurrency?: number;
      timeoutMs?: number;
    }
  | {
      transport: 'api';
      gate: WriteGate;
      url: string;
      apiKey: string;
      assumeVersion?: string;
      concurrency?: number;
      timeoutMs?: number;
      fetch?: typeof fetch;
    }
  | {
      transport: 'offline';
      gate: WriteGate;
      assumeVersion?: string;
    };

export function createHeadscaleClient(o: HeadscaleClientOptions): HeadscaleClient {
  switch (o.transport) {
    case 'exec': {
      const prefix = o.prefix ?? (o.kubectl ? kubectlExecPrefix(o.kubectl) : undefined);
      if (!prefix) throw new UsageError('the exec transport needs kubectl options or an argv prefix');
      const where = o.kubectl ? `kubectl -n ${o.kubectl.namespace} get deployment/${o.kubectl.deployment ?? 'headscale'}` : undefined;
      return new HeadscaleCliClient({
        runner: o.runner,
        gate: o.gate,
        prefix,
        env: o.env,
        assumeVersion: o.assumeVersion,
        concurrency: o.concurrency,
        timeoutMs: o.timeoutMs,
        where,
      });
    }
    case 'api':
      if (!o.url || !o.apiKey) {
        throw new UsageError('the Headscale API transport needs a URL and an API key', {
          hint: 'set HEADSCALE_API_URL and HEADSCALE_API_KEY',
        });
      }
      return new HeadscaleApiClient(o);
    case 'offline':
      return new OfflineHeadscale(o.gate, o.assumeVersion);
  }
}
