// zod schemas for every JSON june-ts reads from Headscale, for every version it supports,
// and the parsers that turn them into the domain types of ./types.ts.
//
// What differs between versions and wire formats (seen in the real binaries, see
// test/unit/headscale/fixtures/):
//  - CLI `-o json` is Go encoding/json of the protobuf structs: snake_case, every field
//    `omitempty` (false / "" / empty list absent), uint64 ids as JSON numbers, timestamps
//    as {"seconds":…,"nanos":…}, an empty list printed as `null`.
//  - The REST API (grpc-gateway, protojson): camelCase, uint64 ids as JSON strings,
//    timestamps as RFC3339 strings, unpopulated fields present with zero values.
//  - 0.23–0.25: user/key ids are strings in the proto; a key's `user` is the user NAME.
//    0.26+: numeric ids; a key's `user` is a nested User object (absent for tag-only keys).
//  - 0.28+: a listed key is `hskey-auth-{prefix}-***`; the full key only at creation.
//  - (unreleased 0.30: camelCase on the CLI too — handled by the key normalisation.)
// Keys are normalised to snake_case before validation, so one schema covers both.

import { z } from 'zod';
import { ExternalError } from '../errors.js';
import { redact, redactor } from '../ui/redact.js';
import type { HsNode, HsPreAuthKey, HsUser } from './types.js';

// ---------------------------------------------------------------------------------------
// Building blocks

/** uint64 as a JSON number (CLI), a decimal string (0.23 proto ids, protojson). */
const IdSchema = z.union([z.number().int().nonnegative(), z.string().regex(/^\d+$/, 'a numeric id')]).transform(String);

/** Go's zero time: what Headscale stores for "no expiry". */
const GO_ZERO_SECONDS = -62135596800;

/** {seconds,nanos} (CLI; both omitempty), RFC3339 (API), or null/absent. */
const TimestampSchema = z
  .union([
    z.object({
      seconds: z
        .union([
          z.number().int(),
          z
            .string()
            .regex(/^-?\d+$/)
            .transform(Number),
        ])
        .optional(),
      nanos: z.number().int().optional(),
    }),
    z.iso.datetime({ offset: true }),
    z.null(),
  ])
  .optional()
  .transform((v): Date | undefined => {
    if (v === undefined || v === null) return undefined;
    if (typeof v === 'string') {
      const d = new Date(v);
      return d.getUTCFullYear() <= 1 ? undefined : d;
    }
    const seconds = v.seconds ?? 0;
    if (seconds <= GO_ZERO_SECONDS) return undefined;
    return new Date(seconds * 1000 + Math.floor((v.nanos ?? 0) / 1e6));
  });

/** omitempty booleans: absent = false. */
const Flag = z
  .boolean()
  .nullish()
  .transform((v) => v ?? false);
/** omitempty strings: absent = ''. */
const Text = z
  .string()
  .nullish()
  .transform((v) => v ?? '');
/** Lists: `null` or absent = []. */
const listOf = <T extends z.ZodType>(item: T) =>
  z
    .array(item)
    .nullish()
    .transform((v) => v ?? []);

// ---------------------------------------------------------------------------------------
// Headscale objects (snake_case after normalisation)

export const UserSchema = z.looseObject({
  id: IdSchema,
  name: z.string().min(1),
  created_at: TimestampSchema,
  display_name: Text,
  email: Text,
});
type UserJson = z.infer<typeof UserSchema>;

/** 0.23–0.25: the owner's name; 0.26+: a nested User; tag-only keys (0.28+): absent. */
const KeyOwnerSchema = z.union([z.string(), UserSchema, z.null()]).optional();

export const PreAuthKeySchema = z.looseObject({
  user: KeyOwnerSchema,
  id: IdSchema,
  key: Text,
  reusable: Flag,
  ephemeral: Flag,
  used: Flag,
  expiration: TimestampSchema,
  created_at: TimestampSchema,
  acl_tags: listOf(z.string()),
});
export type PreAuthKeyJson = z.infer<typeof PreAuthKeySchema>;

export const NodeSchema = z.looseObject({
  id: IdSchema,
  name: Text,
  given_name: Text,
  user: UserSchema.nullish(),
  ip_addresses: listOf(z.string()),
  online: Flag,
  last_seen: TimestampSchema,
  expiry: TimestampSchema,
  created_at: TimestampSchema,
  // < 0.28 embeds the node's pre-auth key in full: its id is read; the key only to redact it
  pre_auth_key: z.looseObject({ id: IdSchema.optional(), key: Text }).nullish(),
  // 0.28+: the tags that own the node (0.23–0.27 print forced_tags/valid_tags instead, not read)
  tags: listOf(z.string()),
});
type NodeJson = z.infer<typeof NodeSchema>;

// ---------------------------------------------------------------------------------------
// Documents: CLI prints the bare object / list; the API wraps them.

export const CliUserListSchema = listOf(UserSchema);
export const CliUserSchema = UserSchema;
export const CliPreAuthKeyListSchema = listOf(PreAuthKeySchema);
export const CliPreAuthKeySchema = PreAuthKeySchema;
export const CliNodeListSchema = listOf(NodeSchema);

export const ApiUserListSchema = z.looseObject({ users: listOf(UserSchema) });
export const ApiUserSchema = z.looseObject({ user: UserSchema });
export const ApiPreAuthKeyListSchema = z.looseObject({ pre_auth_keys: listOf(PreAuthKeySchema) });
export const ApiPreAuthKeySchema = z.looseObject({ pre_auth_key: PreAuthKeySchema });
export const ApiNodeListSchema = z.looseObject({ nodes: listOf(NodeSchema) });
/** `headscale version -o json`: 0.23 `{version}`, 0.26 `{version,commit}`, 0.29 `{version,commit,buildTime,go,dirty}`; GET /version (0.29) the same. */
export const VersionSchema = z.looseObject({ version: z.string() });

/** GET /api/v1/policy: the stored text as is (`updated_at` is not read). */
export const ApiPolicySchema = z.looseObject({ policy: z.string() });

/** `-o json` errors on stderr and grpc-gateway error bodies. */
export const ErrorBodySchema = z.looseObject({
  error: z.string().optional(),
  message: z.string().optional(),
  code: z.number().optional(),
});

/** GET /health (0.23+): `{"status":"pass"}` or `{"status":"fail","output":…}`. */
export const HealthSchema = z.looseObject({ status: z.string(), output: z.string().optional() });

/** The OpenAPI document the daemon serves at /swagger/v1/openapiv2.json, read to find the dialect. */
export const OpenApiSchema = z.looseObject({ definitions: z.record(z.string(), z.unknown()) });

// ---------------------------------------------------------------------------------------
// Parsing

export interface ParseContext {
  /** The command or request, e.g. `headscale users list -o json` or `GET /api/v1/user`. */
  command: string;
  /** e.g. `v0.26.1`; `unknown` while detecting. */
  version: string;
}

/** camelCase keys → snake_case, recursively (protojson and 0.30 CLI use camelCase). */
function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), snakeKeys(v)]));
  }
  return value;
}

export function unexpectedOutput(ctx: ParseContext, problem: string, text?: string): ExternalError {
  const snippet = text === undefined ? '' : `\n  output: ${JSON.stringify(redact(text.trim()).slice(0, 200))}`;
  return new ExternalError(
    redact(`unexpected output from \`${ctx.command}\` (Headscale ${ctx.version}): ${problem}${snippet}`),
    { command: redact(ctx.command) },
    { hint: 'june-ts supports Headscale 0.23 to 0.29; check the Headscale version and report this output if it is one of those' },
  );
}

/** Parse JSON text; tolerate log lines printed before the document. */
export function parseJsonText(text: string, ctx: ParseContext): unknown {
  const trimmed = text.trim();
  if (trimmed === '') throw unexpectedOutput(ctx, 'no output, expected JSON');
  try {
    return JSON.parse(trimmed);
  } catch {
    // Some versions print a warning line before the JSON: take the document that
    // starts on the first line beginning with `{`, `[` or `null`.
    const lines = trimmed.split('\n');
    const start = lines.findIndex((l) => /^\s*(?:[[{]|null\s*$)/.test(l));
    if (start > 0) {
      try {
        return JSON.parse(lines.slice(start).join('\n'));
      } catch {
        /* fall through */
      }
    }
    throw unexpectedOutput(ctx, 'not JSON', text);
  }
}

export function parseWith<S extends z.ZodType>(schema: S, value: unknown, ctx: ParseContext, text?: string): z.output<S> {
  const result = schema.safeParse(snakeKeys(value));
  if (!result.success) {
    const issues = result.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    throw unexpectedOutput(ctx, issues, text ?? JSON.stringify(value));
  }
  return result.data;
}

/** Parse an answer and register every full key in it with the redactor before anything else reads it. */
export function parseAnswer(text: string, ctx: ParseContext): unknown {
  const doc = parseJsonText(text, ctx);
  registerSecretsIn(doc);
  return doc;
}

// ---------------------------------------------------------------------------------------
// To domain types

export function toUser(u: UserJson): HsUser {
  return { id: u.id, name: u.name };
}

const MASKED_SUFFIX = '-***';

/**
 * A key as Headscale shows it. Any full key is registered with the redactor at once.
 * `ownerFallback` names the user when the JSON does not (a key listed per user).
 */
export function toPreAuthKey(k: PreAuthKeyJson, ownerFallback = ''): HsPreAuthKey {
  const owner = typeof k.user === 'string' ? k.user : k.user ? k.user.name : ownerFallback;
  const out: HsPreAuthKey = {
    id: k.id,
    user: owner,
    reusable: k.reusable,
    ephemeral: k.ephemeral,
    used: k.used,
  };
  if (k.key.endsWith(MASKED_SUFFIX)) {
    out.keyPrefix = k.key.slice(0, -MASKED_SUFFIX.length);
  } else if (k.key) {
    redactor.add(k.key);
    out.key = k.key;
  }
  if (k.expiration) out.expiration = k.expiration;
  if (k.created_at) out.createdAt = k.created_at;
  if (k.acl_tags.length) out.aclTags = k.acl_tags;
  return out;
}

export function toNode(n: NodeJson): HsNode {
  if (n.pre_auth_key?.key && !n.pre_auth_key.key.endsWith(MASKED_SUFFIX)) redactor.add(n.pre_auth_key.key);
  const out: HsNode = {
    id: n.id,
    name: n.name,
    givenName: n.given_name,
    user: n.user?.name ?? '',
    ipAddresses: n.ip_addresses,
    online: n.online,
  };
  if (n.last_seen) out.lastSeen = n.last_seen;
  if (n.expiry) out.expiry = n.expiry;
  if (n.created_at) out.createdAt = n.created_at;
  if (n.pre_auth_key?.id) out.preAuthKeyId = n.pre_auth_key.id;
  if (n.tags.length) out.tags = n.tags;
  return out;
}

/** Register every full key in a raw document before anything else touches it. */
export function registerSecretsIn(value: unknown): void {
  if (Array.isArray(value)) {
    for (const v of value) registerSecretsIn(v);
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'key' && typeof v === 'string' && !v.endsWith(MASKED_SUFFIX)) redactor.add(v);
      else registerSecretsIn(v);
    }
  }
}
