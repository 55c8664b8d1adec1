// HeadscaleClient over Headscale's REST API (grpc-gateway; `Authorization: Bearer <api key>`).
//
// Version detection: GET /version (0.29+ serves it, unauthenticated); otherwise the
// dialect is read from the OpenAPI document the daemon serves at
// /swagger/v1/openapiv2.json (all versions, unauthenticated): the shape of
// ExpirePreAuthKeyRequest and PreAuthKey.user tells 0.23 / 0.26 / 0.28 apart.
//
// Differences per dialect (paths and bodies):
//   list keys:   0.23 GET /api/v1/preauthkey?user=NAME · 0.26 ?user=ID · 0.28 no filter
//   create key:  body `user` = NAME (0.23) or ID (0.26+), `expiration` absolute RFC3339
//   expire key:  0.23 {user: NAME, key} · 0.26 {user: ID, key} · 0.28 {id}  (key in the body, never the URL)
//   delete user: 0.23 DELETE /api/v1/user/{name} · 0.26+ DELETE /api/v1/user/{id}

import { ExternalError, UsageError } from '../errors.js';
import type { WriteGate } from '../write-gate.js';
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
  ApiNodeListSchema,
  ApiPreAuthKeyListSchema,
  ApiPreAuthKeySchema,
  ApiUserListSchema,
  ApiUserSchema,
  ErrorBodySchema,
  HealthSchema,
  OpenApiSchema,
  parseJsonText,
  parseWith,
  registerSecretsIn,
  toNode,
  toPreAuthKey,
  toUser,
  unexpectedOutput,
  VersionSchema,
  type ParseContext,
} from './schemas.js';
import {
  assumedVersion,
  formatVersion,
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

export interface ApiTransportOptions {
  /** Base URL of the Headscale server, e.g. `https://headscale.example.com`. */
  url: string;
  apiKey: string;
  gate: WriteGate;
  /** Skip detection and speak this version's dialect (e.g. `0.26.1`). */
  assumeVersion?: string;
  concurrency?: number;
  timeoutMs?: number;
  /** Injected for tests; default global fetch. */
  fetch?: typeof fetch;
}

type Method = 'GET' | 'POST' | 'DELETE';

interface Request {
  method: Method;
  path: string;
  body?: unknown;
  /** Unauthenticated endpoints (/version, /health, /swagger). */
  anonymous?: boolean;
  /** Return undefined on 404 instead of throwing. */
  allow404?: boolean;
}

export class HeadscaleApiClient implements HeadscaleClient {
  private versionPromise: Promise<HeadscaleVersion> | undefined;
  private readonly base: string;
  private readonly fetch: typeof fetch;
  private readonly concurrency: number;

  constructor(private readonly opts: ApiTransportOptions) {
    if (!opts.apiKey) throw new UsageError('the Headscale API transport needs an API key', { hint: 'set HEADSCALE_API_KEY' });
    redactor.add(opts.apiKey);
    let url: URL;
    try {
      url = new URL(opts.url);
    } catch {
      throw new UsageError(`HEADSCALE_API_URL is not a URL: ${JSON.stringify(redact(opts.url))}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new UsageError(`HEADSCALE_API_URL must be http:// or https://, got ${url.protocol}`);
    }
    this.base = url.toString().replace(/\/+$/, '');
    this.fetch = opts.fetch ?? globalThis.fetch;
    this.concurrency = opts.concurrency ?? DEFAULT_CONCURRENCY;
    if (opts.assumeVersion) this.versionPromise = Promise.resolve(assumedVersion(opts.assumeVersion));
  }

  // -------------------------------------------------------------------------------------
  // HTTP

  private async request(req: Request, versionLabel: string): Promise<{ status: number; text: string } | undefined> {
    const what = `${req.method} ${req.path}`;
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (!req.anonymous) headers.Authorization = `Bearer ${this.opts.apiKey}`;
    if (req.body !== undefined) headers['Content-Type'] = 'application/json';
    let res: Response;
    try {
      res = await this.fetch(`${this.base}${req.path}`, {
        method: req.method,
        headers,
        body: req.body === undefined ? undefined : JSON.stringify(req.body),
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 30_000),
      });
    } catch (e) {
      const cause = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
      const reason =
        cause.name === 'TimeoutError'
          ? `timed out after ${this.opts.timeoutMs ?? 30_000} ms`
          : cause.cause?.code ?? cause.cause?.message ?? cause.message ?? String(e);
      throw new ExternalError(
        redact(`cannot reach Headscale at ${this.base} (${what}): ${reason}`),
        { command: redact(what) },
        { hint: 'is Headscale running, and is HEADSCALE_API_URL right?' },
      );
    }
    const text = await res.text();
    if (res.status === 404 && req.allow404) return undefined;
    // 0.29 answers an unknown key with 401; 0.23–0.27 with 500 and the text body "Unauthorized".
    const rejected = !req.anonymous && (res.status === 401 || (res.status === 500 && text.trim() === 'Unauthorized'));
    if (rejected) {
      throw new ExternalError(
        `Headscale rejected the API key (${res.status === 401 ? '401' : `HTTP ${res.status} "Unauthorized"`}) — check HEADSCALE_API_KEY`,
        { command: redact(what), exitCode: 401 },
        { hint: 'create a new one with `headscale apikeys create --expiration 90d` and set HEADSCALE_API_KEY' },
      );
    }
    if (res.status < 200 || res.status > 299) {
      throw new ExternalError(
        redact(`${what} failed (Headscale ${versionLabel}, HTTP ${res.status}): ${apiErrorText(text)}`),
        { command: redact(what), stderr: redact(text.slice(0, 500)), exitCode: res.status },
      );
    }
    return { status: res.status, text };
  }

  private async call<T>(req: Request, parse: (raw: unknown, ctx: ParseContext, text: string) => T): Promise<T> {
    const label = formatVersion(await this.version());
    const res = await this.request(req, label);
    const ctx = { command: `${req.method} ${req.path}`, version: label };
    const text = (res as { text: string }).text;
    const raw = parseJsonText(text, ctx);
    registerSecretsIn(raw);
    return parse(raw, ctx, text);
  }

  // -------------------------------------------------------------------------------------
  // Version

  version(): Promise<HeadscaleVersion> {
    this.versionPromise ??= this.detectVersion().catch((e: unknown) => {
      this.versionPromise = undefined;
      throw e;
    });
    return this.versionPromise;
  }

  private async detectVersion(): Promise<HeadscaleVersion> {
    let raw = '';
    const v = await this.request({ method: 'GET', path: '/version', anonymous: true, allow404: true }, 'unknown');
    if (v) {
      try {
        raw = parseWith(VersionSchema, JSON.parse(v.text), { command: 'GET /version', version: 'unknown' }).version;
      } catch {
        raw = '';
      }
      const reported = reportedVersion(raw);
      if (reported) return reported;
    }
    return probedVersion(await this.probeGeneration(), raw || 'unknown');
  }

  private async probeGeneration(): Promise<SyntaxGeneration> {
    const path = '/swagger/v1/openapiv2.json';
    const ctx = { command: `GET ${path}`, version: 'unknown' };
    const res = await this.request({ method: 'GET', path, anonymous: true, allow404: true }, 'unknown');
    if (!res) {
      throw new ExternalError(
        `cannot tell which Headscale version serves ${this.base}: neither /version nor ${path} answered`,
        { command: ctx.command },
        { hint: 'set the Headscale version explicitly (june-ts supports 0.23 to 0.29)' },
      );
    }
    // Parsed as is: definition names are not field names (no snake_case normalisation).
    const parsed = OpenApiSchema.safeParse(parseJsonText(res.text, ctx));
    if (!parsed.success) throw unexpectedOutput(ctx, 'not an OpenAPI document');
    const doc = parsed.data;
    const defs = doc.definitions as Record<string, { properties?: Record<string, { type?: string; $ref?: string }> }>;
    const expireProps = defs['v1ExpirePreAuthKeyRequest']?.properties ?? {};
    const keyUser = defs['v1PreAuthKey']?.properties?.['user'];
    if ('id' in expireProps && !('key' in expireProps)) return 'v028';
    if (keyUser?.$ref) return 'v026';
    if (keyUser?.type === 'string') return 'v023';
    throw new ExternalError(
      `cannot tell which Headscale version serves ${this.base}: its OpenAPI document matches no known version`,
      { command: ctx.command },
      { hint: 'june-ts supports Headscale 0.23 to 0.29; set the version explicitly' },
    );
  }

  // -------------------------------------------------------------------------------------
  // Reads

  async health(): Promise<void> {
    const v = await this.version();
    const res = await this.request({ method: 'GET', path: '/health', anonymous: true }, formatVersion(v));
    const ctx = { command: 'GET /health', version: formatVersion(v) };
    const h = parseWith(HealthSchema, parseJsonText((res as { text: string }).text, ctx), ctx);
    if (h.status !== 'pass') {
      throw new ExternalError(`Headscale is not healthy: /health says ${JSON.stringify(h.status)}`, { command: ctx.command }, {
        hint: 'check the Headscale logs (database connectivity)',
      });
    }
    // And the key works (401 → a clear error).
    await this.listUsers();
  }

  async listUsers(): Promise<HsUser[]> {
    const doc = await this.call({ method: 'GET', path: '/api/v1/user' }, (raw, ctx, text) => parseWith(ApiUserListSchema, raw, ctx, text));
    return doc.users.map(toUser);
  }

  async listPreAuthKeys(users: HsUser[]): Promise<HsPreAuthKey[]> {
    const v = await this.version();
    if (v.generation === 'v028') {
      const wanted = new Set(users.map((u) => u.name));
      const doc = await this.call({ method: 'GET', path: '/api/v1/preauthkey' }, (raw, ctx, text) =>
        parseWith(ApiPreAuthKeyListSchema, raw, ctx, text),
      );
      return doc.pre_auth_keys.map((k) => toPreAuthKey(k)).filter((k) => wanted.has(k.user));
    }
    const perUser = await mapLimit(unique(users.map((u) => u.name)), this.concurrency, async (name) => {
      const user = users.find((u) => u.name === name) as HsUser;
      const ref = v.generation === 'v023' ? user.name : numericId(user);
      const doc = await this.call({ method: 'GET', path: `/api/v1/preauthkey?user=${encodeURIComponent(ref)}` }, (raw, ctx, text) =>
        parseWith(ApiPreAuthKeyListSchema, raw, ctx, text),
      );
      return doc.pre_auth_keys.map((k) => toPreAuthKey(k, user.name));
    });
    return perUser.flat();
  }

  async listNodes(): Promise<HsNode[]> {
    const doc = await this.call({ method: 'GET', path: '/api/v1/node' }, (raw, ctx, text) => parseWith(ApiNodeListSchema, raw, ctx, text));
    return doc.nodes.map(toNode);
  }

  // -------------------------------------------------------------------------------------
  // Writes

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
        const doc = await this.call({ method: 'POST', path: '/api/v1/user', body: { name } }, (raw, ctx, text) =>
          parseWith(ApiUserSchema, raw, ctx, text),
        );
        return toUser(doc.user);
      },
      { id: DRY_RUN_ID, name },
    );
  }

  async createPreAuthKey(user: HsUser, opts: CreatePreAuthKeyOptions): Promise<HsPreAuthKey & { key: string }> {
    const ms = parseDuration(opts.expiration);
    const ephemeral = opts.ephemeral ?? false;
    return this.opts.gate.write(
      {
        kind: 'headscale',
        action: 'create preauthkey',
        args: { user: user.name, reusable: opts.reusable, ephemeral, expiration: opts.expiration },
      },
      async () => {
        const v = await this.version();
        const body = {
          user: v.generation === 'v023' ? user.name : numericId(user),
          reusable: opts.reusable,
          ephemeral,
          expiration: new Date(Date.now() + ms).toISOString(),
        };
        const doc = await this.call({ method: 'POST', path: '/api/v1/preauthkey', body }, (raw, ctx, text) =>
          parseWith(ApiPreAuthKeySchema, raw, ctx, text),
        );
        const key = toPreAuthKey(doc.pre_auth_key, user.name);
        if (!key.key) {
          throw new ExternalError(`POST /api/v1/preauthkey (Headscale ${formatVersion(v)}) returned no key`, {
            command: 'POST /api/v1/preauthkey',
          });
        }
        redactor.add(key.key);
        return { ...key, key: key.key };
      },
      dryRunKey(user, { reusable: opts.reusable, ephemeral }),
    );
  }

  async expirePreAuthKey(key: HsPreAuthKey): Promise<void> {
    const v = await this.version();
    let body: Record<string, string>;
    if (v.generation === 'v028') {
      if (!/^\d+$/.test(key.id)) throw new UsageError(`cannot expire pre-auth key with id ${JSON.stringify(key.id)}`);
      body = { id: key.id };
    } else {
      // < 0.28 identifies the key by its value (in the request body, never the URL).
      if (!key.key) {
        throw new UsageError(`Headscale ${formatVersion(v)} expires a pre-auth key by its full value, and key ${key.id} of ${key.user} was listed without it`);
      }
      redactor.add(key.key);
      body = { user: v.generation === 'v023' ? key.user : await this.userId(key.user), key: key.key };
    }
    await this.opts.gate.write(
      { kind: 'headscale', action: 'expire preauthkey', args: { id: key.id, user: key.user } },
      async () => {
        await this.call({ method: 'POST', path: '/api/v1/preauthkey/expire', body }, () => undefined);
      },
      undefined,
    );
  }

  async deleteNode(id: string): Promise<void> {
    if (!/^\d+$/.test(id)) throw new UsageError(`Headscale node ids are numeric, got ${JSON.stringify(id)}`);
    await this.opts.gate.write(
      { kind: 'headscale', action: 'delete node', args: { id } },
      async () => {
        await this.call({ method: 'DELETE', path: `/api/v1/node/${id}` }, () => undefined);
      },
      undefined,
    );
  }

  async deleteUser(user: HsUser): Promise<void> {
    await this.opts.gate.write(
      { kind: 'headscale', action: 'delete user', args: { name: user.name, id: user.id } },
      async () => {
        const v = await this.version();
        const ref = v.generation === 'v023' ? encodeURIComponent(user.name) : numericId(user);
        await this.call({ method: 'DELETE', path: `/api/v1/user/${ref}` }, () => undefined);
      },
      undefined,
    );
  }

  private async userId(name: string): Promise<string> {
    const user = (await this.listUsers()).find((u) => u.name === name);
    if (!user) throw new ExternalError(`Headscale user ${name} not found`, { command: 'GET /api/v1/user' });
    return numericId(user);
  }
}

function numericId(user: HsUser): string {
  if (!/^\d+$/.test(user.id)) {
    throw new UsageError(`Headscale user ${user.name} has no numeric id (${JSON.stringify(user.id)}); list users first`);
  }
  return user.id;
}

/** grpc-gateway errors are `{"code":…,"message":…}`; the auth middleware answers plain text. */
function apiErrorText(text: string): string {
  try {
    const parsed = ErrorBodySchema.safeParse(JSON.parse(text));
    if (parsed.success && (parsed.data.message || parsed.data.error)) return redact(parsed.data.message ?? parsed.data.error ?? '');
  } catch {
    /* not JSON */
  }
  return redact(text.trim().slice(0, 200)) || '(empty response)';
}
