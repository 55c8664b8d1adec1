// The wire to Headscale's CLI: argv through a ProcessRunner behind a prefix,
// `kubectl … exec deployment/headscale -c headscale -- headscale` for a cluster,
// `[path/to/headscale, -c, config.yaml]` in tests.
//
// Secrets: argv of `kubectl exec` travels in the API request URL and lands in audit logs,
// so a full pre-auth key is never put on the command line. Where a Headscale version could
// only take one there (0.23–0.27 expire a key by its value), this wire refuses and points
// to the API transport.

import { BugError, ExternalError, UsageError } from '../errors.js';
import { HEADSCALE_CONTAINER, HEADSCALE_DEPLOYMENT } from '../names.js';
import { formatCommand, type ProcessRunner } from '../process/runner.js';
import { redact } from '../ui/redact.js';
import type { Wire } from './client.js';
import { generationFromHelp } from './dialects.js';
import type { Request } from './dialects/request.js';
import { ErrorBodySchema, parseAnswer, VersionSchema } from './schemas.js';
import { formatVersion, generationRange, probedVersion, reportedVersion, type HeadscaleVersion } from './types.js';

/** A single headscale command (through kubectl exec) should never take this long. */
const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * kubectl's exec stream broke before the command's answer arrived (the API server or kubelet
 * side of the websocket went away): nothing says the command failed. Reads are run again.
 */
const EXEC_STREAM_BROKEN = /closed all streams|Unknown stream id|error dialing backend|stream error|connection reset by peer/i;
const READ_ATTEMPTS = 3;

export interface KubectlExecOptions {
  /** kubectl binary (default `kubectl`). */
  kubectl?: string;
  kubeconfig?: string;
  context?: string;
  namespace: string;
  /** Default: the chart's `headscale` Deployment and container (src/names.ts). */
  deployment?: string;
  container?: string;
  /** The headscale binary inside the container (default `headscale`). */
  headscale?: string;
  /** `exec -i`: the command reads stdin. */
  stdin?: boolean;
}

/** `kubectl [--kubeconfig K] [--context C] -n NS exec deployment/headscale -c headscale -- headscale` */
export function kubectlExecPrefix(o: KubectlExecOptions): string[] {
  return [
    o.kubectl ?? 'kubectl',
    ...(o.kubeconfig ? ['--kubeconfig', o.kubeconfig] : []),
    ...(o.context ? ['--context', o.context] : []),
    '-n',
    o.namespace,
    'exec',
    ...(o.stdin ? ['-i'] : []),
    `deployment/${o.deployment ?? HEADSCALE_DEPLOYMENT}`,
    '-c',
    o.container ?? HEADSCALE_CONTAINER,
    '--',
    o.headscale ?? 'headscale',
  ];
}

export interface CliWireOptions {
  runner: ProcessRunner;
  /** argv before the headscale subcommand; the first element is the program. */
  prefix: readonly string[];
  /** The prefix of a command that reads stdin (`kubectl exec -i …`); default `prefix`. */
  stdinPrefix?: readonly string[];
  /** Extra environment for the command (e.g. HEADSCALE_CONFIG in tests). */
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Shown in hints, e.g. `kubectl -n headscale get deployment/headscale`. */
  where?: string;
}

export class CliWire implements Wire {
  constructor(private readonly opts: CliWireOptions) {
    if (opts.prefix.length === 0) throw new TypeError('CliWire: empty argv prefix');
  }

  async send<T>(request: Request<T>, version: string): Promise<T> {
    const call = request.cli;
    if (!call)
      throw new BugError(`no CLI form for ${request.http.method} ${request.http.path}: the client must ask assertCanCarrySecret first`);
    const stdout = await this.run(call.args, version, call.input, request.http.method === 'GET' ? READ_ATTEMPTS : 1);
    if (call.readText) return call.readText(stdout);
    if (!call.read) return undefined as T;
    const ctx = { command: this.display(call.args), version };
    return call.read(parseAnswer(stdout, ctx), ctx, stdout);
  }

  async detectVersion(): Promise<HeadscaleVersion> {
    // Plain `headscale version`: 0.23–0.27 register no flags at all when argv[1] is
    // `version` (so `version -o json` fails there under `kubectl exec … -- headscale`);
    // they print `v0.26.1`, 0.28+ prints `headscale version v0.29.2` plus build lines.
    const raw = versionFromText(await this.run(['version'], 'unknown', undefined, READ_ATTEMPTS));
    const reported = reportedVersion(raw);
    if (reported) return reported;
    // A source build without version ldflags (`dev`): the help text shows the dialect.
    const args = ['preauthkeys', 'expire', '--help'];
    const generation = generationFromHelp(await this.run(args, raw || 'unknown', undefined, READ_ATTEMPTS));
    if (generation) return probedVersion(generation, raw);
    throw new ExternalError(
      `cannot tell which Headscale version this is: \`headscale version\` says ${JSON.stringify(raw)} and \`${this.display(args)}\` matches no known syntax`,
      { command: this.full(args) },
      { hint: 'june-ts supports Headscale 0.23 to 0.29; set the version explicitly if this is a source build' },
    );
  }

  async checkHealth(probe: () => Promise<void>): Promise<void> {
    try {
      await probe();
    } catch (e) {
      if (!(e instanceof ExternalError)) throw e;
      throw new ExternalError(`Headscale is not healthy: ${e.message}`, e.details, {
        hint: e.hint ?? `check the Headscale server${this.opts.where ? ` (${this.opts.where})` : ''} and its logs`,
        cause: e,
      });
    }
  }

  assertCanCarrySecret(action: string, v: HeadscaleVersion): void {
    throw new UsageError(
      `Headscale ${formatVersion(v)} (${generationRange(v.generation)}) can only ${action} by putting the full key on the command line, which june-ts does not do over kubectl exec (argv ends up in API server audit logs)`,
      {
        hint: 'use the API transport: set HEADSCALE_API_URL and HEADSCALE_API_KEY (create a key with `headscale apikeys create`), or upgrade Headscale to 0.28+',
      },
    );
  }

  /** stdout of a successful run. */
  private async run(args: string[], version: string, input?: string, attempts = 1): Promise<string> {
    const [file, ...rest] = input === undefined ? this.opts.prefix : (this.opts.stdinPrefix ?? this.opts.prefix);
    const once = () =>
      this.opts.runner.run(file as string, [...rest, ...args], {
        env: this.opts.env,
        input,
        timeoutMs: this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
        allowFailure: true,
      });
    let result = await once();
    for (let attempt = 1; attempt < attempts && result.exitCode !== 0 && EXEC_STREAM_BROKEN.test(result.stderr); attempt++) {
      await new Promise((r) => setTimeout(r, 200 * attempt));
      result = await once();
    }
    if (result.exitCode === 0) return result.stdout;
    const reason = errorText(result.stderr) || errorText(result.stdout) || '(no output)';
    const unreachable = /connect|dial|connection refused|no such file|unavailable|deadline|socket/i.test(reason);
    const notRunning =
      /container not found|is not running|no pods|not found.*deployment|unable to upgrade connection|error from server/i.test(reason);
    const where = this.opts.where ? ` (${this.opts.where})` : '';
    throw new ExternalError(
      redact(`\`${this.display(args)}\` failed (Headscale ${version}, exit ${result.exitCode}): ${reason}`),
      { command: this.full(args), stderr: redact(result.stderr), exitCode: result.exitCode },
      {
        hint:
          unreachable || notRunning
            ? `is Headscale running and ready${where}? The CLI talks to the server over its unix socket inside the container.`
            : undefined,
      },
    );
  }

  /** The command line as shown to humans: `headscale users list -o json` (prefix elided). */
  private display(args: readonly string[]): string {
    return redact(['headscale', ...args].join(' '));
  }

  private full(args: readonly string[]): string {
    const [file, ...rest] = this.opts.prefix;
    return formatCommand(file as string, [...rest, ...args]);
  }
}

/** `v0.26.1` or `headscale version v0.29.2\ncommit: …` or `{"version": …}` → the version string. */
function versionFromText(stdout: string): string {
  const text = stdout.trim();
  try {
    const parsed = VersionSchema.safeParse(JSON.parse(text));
    if (parsed.success) return parsed.data.version;
  } catch {
    /* not JSON */
  }
  const first = text.split('\n')[0] ?? '';
  return first.replace(/^headscale version\s+/i, '').trim();
}

/** The error text of a failed command: `{"error": …}` (-o json) or the last stderr lines. */
function errorText(text: string): string {
  const t = text.trim();
  if (!t) return '';
  try {
    const parsed = ErrorBodySchema.safeParse(JSON.parse(t));
    if (parsed.success && parsed.data.error) return redact(parsed.data.error);
  } catch {
    /* not JSON */
  }
  const lines = t.split('\n').filter((l) => l.trim());
  // cobra: `Error: …` followed by the usage text
  const cobra = lines.find((l) => l.startsWith('Error: '));
  if (cobra) return redact(cobra.slice('Error: '.length));
  return redact(lines.slice(-3).join('\n'));
}
