// The shape of one operation as each wire sends it (argv for the CLI, a REST request for the
// API), built by the dialects of ../dialects.ts, and the helpers they read answers with.
import type { z } from 'zod';
import { ExternalError } from '../../errors.js';
import { parseWith, type ParseContext } from '../schemas.js';
import type { HsPreAuthKey } from '../types.js';

/** Reads an answer already parsed from JSON (its keys registered with the redactor). */
export type Reader<T> = (doc: unknown, ctx: ParseContext, text: string) => T;

export interface CliCall<T> {
  /** argv after `headscale`. */
  args: string[];
  /** Absent: the output is not read. */
  read?: Reader<T>;
  /** Written to the command's stdin (the command reads it as `-f /dev/stdin`). */
  input?: string;
  /** Reads stdout as text, not JSON (what `policy get` prints is the policy itself). */
  readText?: (text: string) => T;
}

export interface HttpCall<T> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Path and query, e.g. `/api/v1/preauthkey?user=1`. */
  path: string;
  body?: Record<string, unknown>;
  /** Served without the API key (/health). */
  anonymous?: boolean;
  /** Absent: the answer is only checked to be JSON. */
  read?: Reader<T>;
}

/** One operation as each wire sends it. No `cli`: the CLI could only do it with a secret in argv. */
export interface Request<T> {
  cli?: CliCall<T>;
  http: HttpCall<T>;
}

export interface NewKey {
  reusable: boolean;
  ephemeral: boolean;
  /** The duration the CLI takes (`180d`)… */
  expiration: string;
  /** …and the time the API takes. */
  expiresAt: Date;
}

/** The parts of the OpenAPI document (/swagger/v1/openapiv2.json) that tell the generations apart. */
export type OpenApiDefinitions = Record<string, { properties?: Record<string, { type?: string; $ref?: string }> } | undefined>;

export const JSON_OUTPUT = ['-o', 'json'];

export function reader<S extends z.ZodType, T>(schema: S, map: (value: z.output<S>, ctx: ParseContext) => T): Reader<T> {
  return (doc, ctx, text) => map(parseWith(schema, doc, ctx, text), ctx);
}

export function withKey(key: HsPreAuthKey, ctx: ParseContext): HsPreAuthKey & { key: string } {
  if (!key.key) throw new ExternalError(`\`${ctx.command}\` (Headscale ${ctx.version}) returned no key`, { command: ctx.command });
  return { ...key, key: key.key };
}
