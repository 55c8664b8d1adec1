// HeadscaleClient over the `headscale` CLI, run through a ProcessRunner behind an argv
// prefix: `kubectl … exec deployment/headscale -c headscale -- headscale` for a cluster,
// `[path/to/headscale, -c, config.yaml]` in tests.
//
// Secrets: argv of `kubectl exec` travels in the API request URL and lands in audit logs,
// so a full pre-auth key is never put on the command line. Headscale 0.23–0.27 can only
// expire a key by its full value (`preauthkeys expire --user U KEY`): that is refused
// here with a pointer to the API transport.

import { ExternalError, UsageError } from '../errors.js';
import { HEADSCALE_CONTAINER, HEADSCALE_DEPLOYMENT } from '../names.js';
import type { WriteGate } from '../write-gate.js';
import { formatCommand, type ProcessRunner } from '../process/runner.js';
import { redact, redactor } from '../ui/redact.js';
import {
  DEFAULT_CONCURRENCY,
  DRY_RUN_ID,
  dryRunKey,
  ensureUsersWith,
  mapLimit,
  parseDuration,
  unique,
  validateUserName,
} from './common.js';
import {
  CliNodeListSchema,
  CliPreAuthKeyListSchema,
  CliPreAuthKeySchema,
  CliUserListSchema,
  CliUserSchema,
  ErrorBodySchema,
  parseJsonText,
  parseText,
  parseWith,
  registerSecretsIn,
  toNode,
  toPreAuthKey,
  toUser,
  VersionSchema,
  type ParseContext,
} from './schemas.js';
import {
  assumedVersion,
  formatVersion,
  generationRange,
  probedVersion,
  reportedVersion,
  type CreatePreAuthKeyOptions,
  type HeadscaleClient,
  type HeadscaleVersion,
  type HsNode,
  type HsPreAuthKey,
  type HsUser,
  type SyntaxGeneration,
} from './types.js';

/** A single headscale command (through kubectl exec) should never take this long. */
const DEFAULT_TIMEOUT_MS = 60_000;

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
    `deployment/${o.deployment ?? HEADSCALE_DEPLOYMENT}`,
    '-c',
    o.container ?? HEADSCALE_CONTAINER,
    '--',
    o.headscale ?? 'headscale',
  ];
}

export interface CliTransportOptions {
  runner: ProcessRunner;
  gate: WriteGate;
  /** argv before the headscale subcommand; the first element is the program. */
  prefix: readonly string[];
  /** Extra environment for the command (e.g. HEADSCALE_CONFIG in tests). */
  env?: Record<string, string | undefined>;
  /** Skip detection and speak this version's syntax (e.g. `0.26.1`). */
  assumeVersion?: string;
  /** Parallel commands when creating users or listing keys per user (default 4). */
  concurrency?: number;
  timeoutMs?: number;
  /** Shown in hints, e.g. `kubectl -n headscale get pods`. */
  where?: string;
}

interface Invocation {
  args: string[];
  stdout: string;
}

export class HeadscaleCliClient implements HeadscaleClient {
  private versionPromise: Promise<HeadscaleVersion> | undefined;
  private readonly concurrency: number;

  constructor(private readonly opts: CliTransportOptions) {
    if (opts.prefix.length === 0) throw new TypeError('HeadscaleCliClient: empty argv prefix');
    this.concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
    if (opts.assumeVersion) this.versionPromise = Promise.resolve(assumedVersion(opts.assumeVersion));
  }

  // -------------------------------------------------------------------------------------
  // Running commands

  /** The command line as shown to humans: `headscale users list -o json` (prefix elided). */
  private display(args: readonly string[]): string {
    return redact(['headscale', ...args].join(' '));
  }

  private full(args: readonly string[]): string {
    const [file, ...rest] = this.opts.prefix;
    return formatCommand(file as string, [...rest, ...args]);
  }

  private async exec(args: string[], versionLabel: string): Promise<Invocation> {
    const [file, ...rest] = this.opts.prefix;
    const result = await this.opts.runner.run(file as string, [...rest, ...args], {
      env: this.opts.env,
      timeoutMs: this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      allowFailure: true,
    });
    if (result.exitCode === 0) return { args, stdout: result.stdout };
    throw this.failure(args, versionLabel, result.exitCode, result.stderr, result.stdout);
  }

  private failure(args: readonly string[], versionLabel: string, exitCode: number, stderr: string, stdout: string): ExternalError {
    const command = this.full(args);
    const reason = errorText(stderr) || errorText(stdout) || '(no output)';
    const unreachable = /connect|dial|connection refused|no such file|unavailable|deadline|socket/i.test(reason);
    const notRunning = /container not found|is not running|no pods|not found.*deployment|unable to upgrade connection|error from server/i.test(reason);
    const where = this.opts.where ? ` (${this.opts.where})` : '';
    return new ExternalError(
      redact(`\`${this.display(args)}\` failed (Headscale ${versionLabel}, exit ${exitCode}): ${reason}`),
      { command, stderr: redact(stderr), exitCode },
      {
        hint:
          unreachable || notRunning
            ? `is Headscale running and ready${where}? The CLI talks to the server over its unix socket inside the container.`
            : undefined,
      },
    );
  }

  private async versionLabel(): Promise<string> {
    return formatVersion(await this.version());
  }

  /** Run a read or write and parse its JSON. */
  private async json<T>(args: string[], parse: (text: string, ctx: ParseContext) => T): Promise<T> {
    const label = await this.versionLabel();
    const inv = await this.exec(args, label);
    return parse(inv.stdout, { command: this.display(args), version: label });
  }

  // -------------------------------------------------------------------------------------
  // Version

  version(): Promise<HeadscaleVersion> {
    this.versionPromise ??= this.detectVersion().catch((e: unknown) => {
      this.versionPromise = undefined; // a failed detection may be retried
      throw e;
    });
    return this.versionPromise;
  }

  private async detectVersion(): Promise<HeadscaleVersion> {
    // Plain `headscale version`: 0.23–0.27 register no flags at all when argv[1] is
    // `version` (so `version -o json` fails there under `kubectl exec … -- headscale`);
    // they print `v0.26.1`, 0.28+ prints `headscale version v0.29.2` plus build lines.
    const inv = await this.exec(['version'], 'unknown');
    const raw = versionFromText(inv.stdout);
    const reported = reportedVersion(raw);
    if (reported) return reported;
    // A source build without version ldflags (`dev`): find the dialect from the help text.
    return probedVersion(await this.probeGeneration(raw), raw);
  }

  /**
   * `preauthkeys expire --help` shows the dialect: `-i, --id uint` (0.28+),
   * or the inherited `-u, --user uint` (0.26–0.27) / `-u, --user string` (0.23–0.25).
   */
  private async probeGeneration(raw: string): Promise<SyntaxGeneration> {
    const args = ['preauthkeys', 'expire', '--help'];
    const inv = await this.exec(args, raw || 'unknown');
    const help = inv.stdout;
    if (/--id\b/.test(help)) return 'v028';
    if (/--user uint/.test(help)) return 'v026';
    if (/--user string/.test(help)) return 'v023';
    throw new ExternalError(
      `cannot tell which Headscale version this is: \`headscale version\` says ${JSON.stringify(raw)} and \`${this.display(args)}\` matches no known syntax`,
      { command: this.full(args) },
      { hint: 'june-ts supports Headscale 0.23 to 0.29; set the version explicitly if this is a source build' },
    );
  }

  // -------------------------------------------------------------------------------------
  // Reads

  async health(): Promise<void> {
    try {
      const v = await this.version();
      // 0.28+ has `headscale health` (asks the server, which pings its database);
      // older versions: any call that needs the server proves it answers.
      const args = v.generation === 'v028' ? ['health', '-o', 'json'] : ['users', 'list', '-o', 'json'];
      await this.exec(args, formatVersion(v));
    } catch (e) {
      if (e instanceof ExternalError) {
        throw new ExternalError(`Headscale is not healthy: ${e.message}`, e.details, {
          hint: e.hint ?? `check the Headscale server${this.opts.where ? ` (${this.opts.where})` : ''} and its logs`,
          cause: e,
        });
      }
      throw e;
    }
  }

  async listUsers(): Promise<HsUser[]> {
    const users = await this.json(['users', 'list', '-o', 'json'], (t, ctx) => parseText(CliUserListSchema, t, ctx));
    return users.map(toUser);
  }

  async listPreAuthKeys(users: HsUser[]): Promise<HsPreAuthKey[]> {
    const v = await this.version();
    if (v.generation === 'v028') {
      const wanted = new Set(users.map((u) => u.name));
      const keys = await this.json(['preauthkeys', 'list', '-o', 'json'], (t, ctx) => this.parseKeys(t, ctx));
      return keys.map((k) => toPreAuthKey(k)).filter((k) => wanted.has(k.user));
    }
    const perUser = await mapLimit(unique(users.map((u) => u.name)), this.concurrency, async (name) => {
      const user = users.find((u) => u.name === name) as HsUser;
      const args = ['preauthkeys', 'list', '-u', this.userRef(user, v), '-o', 'json'];
      const keys = await this.json(args, (t, ctx) => this.parseKeys(t, ctx));
      return keys.map((k) => toPreAuthKey(k, user.name));
    });
    return perUser.flat();
  }

  private parseKeys(text: string, ctx: ParseContext) {
    const raw = parseJsonText(text, ctx);
    registerSecretsIn(raw);
    return parseWith(CliPreAuthKeyListSchema, raw, ctx, text);
  }

  async listNodes(): Promise<HsNode[]> {
    const nodes = await this.json(['nodes', 'list', '-o', 'json'], (t, ctx) => {
      const raw = parseJsonText(t, ctx);
      registerSecretsIn(raw);
      return parseWith(CliNodeListSchema, raw, ctx, t);
    });
    return nodes.map(toNode);
  }

  // -------------------------------------------------------------------------------------
  // Writes (through the gate)

  async ensureUsers(names: string[]): Promise<HsUser[]> {
    return ensureUsersWith(names, {
      list: () => this.listUsers(),
      create: (name) => this.createUser(name),
      concurrency: this.concurrency,
    });
  }

  private async createUser(name: string): Promise<HsUser> {
    validateUserName(name);
    return this.opts.gate.write(
      { kind: 'headscale', action: 'create user', args: { name } },
      async () => {
        const user = await this.json(['users', 'create', name, '-o', 'json'], (t, ctx) => parseText(CliUserSchema, t, ctx));
        return toUser(user);
      },
      { id: DRY_RUN_ID, name },
    );
  }

  async createPreAuthKey(user: HsUser, opts: CreatePreAuthKeyOptions): Promise<HsPreAuthKey & { key: string }> {
    parseDuration(opts.expiration); // reject garbage before Headscale sees it
    const ephemeral = opts.ephemeral ?? false;
    return this.opts.gate.write(
      {
        kind: 'headscale',
        action: 'create preauthkey',
        args: { user: user.name, reusable: opts.reusable, ephemeral, expiration: opts.expiration },
      },
      async () => {
        const v = await this.version();
        const args = [
          'preauthkeys',
          'create',
          '-u',
          this.userRef(user, v),
          ...(opts.reusable ? ['--reusable'] : []),
          ...(ephemeral ? ['--ephemeral'] : []),
          '--expiration',
          opts.expiration,
          '-o',
          'json',
        ];
        const json = await this.json(args, (t, ctx) => {
          const raw = parseJsonText(t, ctx);
          registerSecretsIn(raw);
          return { parsed: parseWith(CliPreAuthKeySchema, raw, ctx, t), ctx };
        });
        const key = toPreAuthKey(json.parsed, user.name);
        if (!key.key) {
          throw new ExternalError(
            `\`${json.ctx.command}\` (Headscale ${json.ctx.version}) returned no key`,
            { command: this.full(args) },
          );
        }
        redactor.add(key.key);
        return { ...key, key: key.key };
      },
      dryRunKey(user, { reusable: opts.reusable, ephemeral }),
    );
  }

  async expirePreAuthKey(key: HsPreAuthKey): Promise<void> {
    const v = await this.version();
    if (v.generation !== 'v028') {
      // 0.23–0.27: `preauthkeys expire --user U KEY` — the full key would be in argv.
      throw new UsageError(
        `Headscale ${formatVersion(v)} (${generationRange(v.generation)}) can only expire a pre-auth key by putting the full key on the command line, which june-ts does not do over kubectl exec (argv ends up in API server audit logs)`,
        {
          hint: 'use the API transport: set HEADSCALE_API_URL and HEADSCALE_API_KEY (create a key with `headscale apikeys create`), or upgrade Headscale to 0.28+',
        },
      );
    }
    if (!/^\d+$/.test(key.id)) throw new UsageError(`cannot expire pre-auth key with id ${JSON.stringify(key.id)}`);
    await this.opts.gate.write(
      { kind: 'headscale', action: 'expire preauthkey', args: { id: key.id, user: key.user } },
      async () => {
        await this.exec(['preauthkeys', 'expire', '--id', key.id, '-o', 'json'], formatVersion(v));
      },
      undefined,
    );
  }

  async deleteNode(id: string): Promise<void> {
    if (!/^\d+$/.test(id)) throw new UsageError(`Headscale node ids are numeric, got ${JSON.stringify(id)}`);
    await this.opts.gate.write(
      { kind: 'headscale', action: 'delete node', args: { id } },
      async () => {
        await this.exec(['nodes', 'delete', '-i', id, '--force', '-o', 'json'], await this.versionLabel());
      },
      undefined,
    );
  }

  async deleteUser(user: HsUser): Promise<void> {
    await this.opts.gate.write(
      { kind: 'headscale', action: 'delete user', args: { name: user.name, id: user.id } },
      async () => {
        const v = await this.version();
        // 0.23–0.25: `users destroy NAME`; 0.26+: `users destroy --identifier ID`
        const args =
          v.generation === 'v023'
            ? ['users', 'destroy', user.name, '--force', '-o', 'json']
            : ['users', 'destroy', '--identifier', numericId(user), '--force', '-o', 'json'];
        await this.exec(args, formatVersion(v));
      },
      undefined,
    );
  }

  /** How `-u` names a user: the NAME on 0.23–0.25, the numeric ID on 0.26+. */
  private userRef(user: HsUser, v: HeadscaleVersion): string {
    if (v.generation === 'v023') return user.name;
    return numericId(user);
  }
}

function numericId(user: HsUser): string {
  if (!/^\d+$/.test(user.id)) {
    throw new UsageError(`Headscale user ${user.name} has no numeric id (${JSON.stringify(user.id)}); list users first`);
  }
  return user.id;
}

/** `v0.26.1` or `headscale version v0.29.2\ncommit: …` or `{"version": …}` → the version string. */
export function versionFromText(stdout: string): string {
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
