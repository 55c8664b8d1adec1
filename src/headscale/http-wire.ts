// The wire to Headscale's REST API (grpc-gateway; `Authorization: Bearer <api key>`).
//
// Version detection: GET /version (0.29+ serves it, unauthenticated); otherwise the
// dialect is read from the OpenAPI document the daemon serves at
// /swagger/v1/openapiv2.json (all versions, unauthenticated).

import { ExternalError, UsageError } from '../errors.js';
import { redact, redactor } from '../ui/redact.js';
import type { Wire } from './client.js';
import { generationFromOpenApi } from './dialects.js';
import type { HttpCall, OpenApiDefinitions, Request } from './dialects/request.js';
import { nodeFetch } from './http-fetch.js';
import { ErrorBodySchema, OpenApiSchema, parseAnswer, parseJsonText, unexpectedOutput, VersionSchema } from './schemas.js';
import { probedVersion, reportedVersion, type HeadscaleVersion } from './types.js';

const DEFAULT_TIMEOUT_MS = 30_000;
const OPENAPI_PATH = '/swagger/v1/openapiv2.json';

export interface HttpWireOptions {
  /** Base URL of the Headscale server, e.g. `https://headscale.example.com`. */
  url: string;
  apiKey: string;
  timeoutMs?: number;
  /** Injected for tests; default nodeFetch (./http-fetch.ts). */
  fetch?: typeof fetch;
}

export class HttpWire implements Wire {
  private readonly base: string;
  private readonly fetch: typeof fetch;

  constructor(private readonly opts: HttpWireOptions) {
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
    this.fetch = opts.fetch ?? nodeFetch;
  }

  async send<T>(request: Request<T>, version: string): Promise<T> {
    const call = request.http;
    const text = (await this.request(call, version)) as string;
    const ctx = { command: `${call.method} ${call.path}`, version };
    const doc = parseAnswer(text, ctx);
    return call.read ? call.read(doc, ctx, text) : (undefined as T);
  }

  async detectVersion(): Promise<HeadscaleVersion> {
    let raw = '';
    const text = await this.request({ method: 'GET', path: '/version', anonymous: true }, 'unknown', { allow404: true });
    if (text !== undefined) {
      const parsed = VersionSchema.safeParse(safeJson(text));
      raw = parsed.success ? parsed.data.version : '';
      const reported = reportedVersion(raw);
      if (reported) return reported;
    }
    return probedVersion(await this.probeGeneration(), raw || 'unknown');
  }

  /** The generation whose OpenAPI document this server serves. */
  private async probeGeneration() {
    const ctx = { command: `GET ${OPENAPI_PATH}`, version: 'unknown' };
    const text = await this.request({ method: 'GET', path: OPENAPI_PATH, anonymous: true }, 'unknown', { allow404: true });
    if (text === undefined) {
      throw new ExternalError(
        `cannot tell which Headscale version serves ${this.base}: neither /version nor ${OPENAPI_PATH} answered`,
        { command: ctx.command },
        { hint: 'set the Headscale version explicitly (june-ts supports 0.23 to 0.29)' },
      );
    }
    // Parsed as is: definition names are not field names (no snake_case normalisation).
    const parsed = OpenApiSchema.safeParse(parseJsonText(text, ctx));
    if (!parsed.success) throw unexpectedOutput(ctx, 'not an OpenAPI document');
    const generation = generationFromOpenApi(parsed.data.definitions as OpenApiDefinitions);
    if (generation) return generation;
    throw new ExternalError(
      `cannot tell which Headscale version serves ${this.base}: its OpenAPI document matches no known version`,
      { command: ctx.command },
      { hint: 'june-ts supports Headscale 0.23 to 0.29; set the version explicitly' },
    );
  }

  async checkHealth(probe: () => Promise<void>, authenticated: () => Promise<unknown>): Promise<void> {
    await probe();
    await authenticated();
  }

  assertCanCarrySecret(): void {
    // secrets travel in request bodies, never in the URL
  }

  /** The body of a 2xx answer; undefined for a 404 when `allow404`. */
  private async request(call: HttpCall<unknown>, version: string, o: { allow404?: boolean } = {}): Promise<string | undefined> {
    const what = `${call.method} ${call.path}`;
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (!call.anonymous) headers.Authorization = `Bearer ${this.opts.apiKey}`;
    if (call.body !== undefined) headers['Content-Type'] = 'application/json';
    const timeoutMs = this.opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let res: Response;
    try {
      res = await this.fetch(`${this.base}${call.path}`, {
        method: call.method,
        headers,
        body: call.body === undefined ? undefined : JSON.stringify(call.body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (e) {
      const cause = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
      const reason =
        cause.name === 'TimeoutError'
          ? `timed out after ${timeoutMs} ms`
          : (cause.cause?.code ?? cause.cause?.message ?? cause.message ?? String(e));
      throw new ExternalError(
        redact(`cannot reach Headscale at ${this.base} (${what}): ${reason}`),
        { command: redact(what) },
        { hint: 'is Headscale running, and is HEADSCALE_API_URL right?' },
      );
    }
    const text = await res.text();
    if (isHtml(res.headers.get('content-type'), text)) {
      const title = /<title>([^<]{1,80})<\/title>/i.exec(text)?.[1]?.trim();
      throw new ExternalError(
        redact(
          `${this.base} answered with an HTML page (HTTP ${res.status}${title ? `, "${title}"` : ''}), not Headscale's JSON (${what}): HEADSCALE_API_URL reaches a proxy or ingress page, not Headscale`,
        ),
        { command: redact(what), exitCode: res.status },
        {
          hint: 'check that Headscale runs behind that address (its Deployment, Service and ingress backend), or set HEADSCALE_API_URL to Headscale itself',
        },
      );
    }
    if (res.status === 404 && o.allow404) return undefined;
    // 0.29 answers an unknown key with 401; 0.23–0.27 with 500 and the text body "Unauthorized".
    const rejected = !call.anonymous && (res.status === 401 || (res.status === 500 && text.trim() === 'Unauthorized'));
    if (rejected) {
      throw new ExternalError(
        `Headscale rejected the API key (${res.status === 401 ? '401' : `HTTP ${res.status} "Unauthorized"`}) — check HEADSCALE_API_KEY`,
        { command: redact(what), exitCode: 401 },
        { hint: 'create a new one with `headscale apikeys create --expiration 90d` and set HEADSCALE_API_KEY' },
      );
    }
    if (res.status < 200 || res.status > 299) {
      throw new ExternalError(redact(`${what} failed (Headscale ${version}, HTTP ${res.status}): ${apiErrorText(text)}`), {
        command: redact(what),
        stderr: redact(text.slice(0, 500)),
        exitCode: res.status,
      });
    }
    return text;
  }
}

/** An ingress or proxy page: declared HTML, or a body that starts like one. */
function isHtml(contentType: string | null, text: string): boolean {
  return /\btext\/html\b/i.test(contentType ?? '') || /^\s*<(!doctype html|html)\b/i.test(text);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** grpc-gateway errors are `{"code":…,"message":…}`; the auth middleware answers plain text. */
function apiErrorText(text: string): string {
  const parsed = ErrorBodySchema.safeParse(safeJson(text));
  if (parsed.success && (parsed.data.message || parsed.data.error)) return redact(parsed.data.message ?? parsed.data.error ?? '');
  return redact(text.trim().slice(0, 200)) || '(empty response)';
}
