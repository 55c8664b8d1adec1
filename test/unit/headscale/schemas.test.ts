// Parsing of every JSON shape the real binaries produced (fixtures/record.sh).
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { ExternalError } from '../../../src/errors.js';
import {
  ApiNodeListSchema,
  ApiPreAuthKeyListSchema,
  ApiPreAuthKeySchema,
  ApiUserListSchema,
  CliNodeListSchema,
  CliPreAuthKeyListSchema,
  CliPreAuthKeySchema,
  CliUserListSchema,
  CliUserSchema,
  parseJsonText,
  parseWith,
  toNode,
  toPreAuthKey,
  toUser,
  type ParseContext,
} from '../../../src/headscale/schemas.js';
import { redact } from '../../../src/ui/redact.js';
import {
  assumedVersion,
  generationOf,
  generationRange,
  parseVersionString,
  probedVersion,
  reportedVersion,
} from '../../../src/headscale/types.js';
import { fx, GENERATION, VERSIONS } from './fixtures.js';

const parseText = <S extends z.ZodType>(schema: S, text: string, ctx: ParseContext) =>
  parseWith(schema, parseJsonText(text, ctx), ctx, text);

const ctx = (version: string, command = 'headscale test') => ({ command, version });

describe.each(VERSIONS)('Headscale %s JSON', (v) => {
  const gen = GENERATION[v];

  it('CLI: empty lists print `null`', () => {
    expect(parseText(CliUserListSchema, fx(v, 'cli/users-list-empty.json'), ctx(v))).toEqual([]);
    expect(parseText(CliPreAuthKeyListSchema, fx(v, 'cli/preauthkeys-list-empty.json'), ctx(v))).toEqual([]);
    expect(parseText(CliNodeListSchema, fx(v, 'cli/nodes-list-empty.json'), ctx(v))).toEqual([]);
  });

  it('CLI: users (string ids on 0.23, numbers after) become {id: string, name}', () => {
    const created = toUser(parseText(CliUserSchema, fx(v, 'cli/users-create.json'), ctx(v)));
    expect(created).toEqual({ id: '1', name: 'june-alpha' });
    const raw = JSON.parse(fx(v, 'cli/users-create.json')) as { id: unknown };
    expect(typeof raw.id).toBe(gen === 'v023' ? 'string' : 'number');
    expect(parseText(CliUserListSchema, fx(v, 'cli/users-list.json'), ctx(v)).map(toUser)).toEqual([created]);
  });

  it('CLI: a created key carries the full secret, {seconds,nanos} timestamps and omitted false flags', () => {
    const text = fx(v, 'cli/preauthkeys-create.json');
    const raw = JSON.parse(text) as { user: unknown; key: string; ephemeral?: boolean; used?: boolean };
    // field-facts: key.user is a name on 0.23, a nested User after
    expect(typeof raw.user).toBe(gen === 'v023' ? 'string' : 'object');
    expect(raw.ephemeral).toBeUndefined(); // omitempty
    expect(raw.used).toBeUndefined();
    if (gen === 'v028') expect(raw.key).toMatch(/^hskey-auth-/);
    else expect(raw.key).toMatch(/^[0-9a-f]{48}$/); // 0.23–0.27 keys are bare hex, no tskey- prefix

    const key = toPreAuthKey(parseText(CliPreAuthKeySchema, text, ctx(v)));
    expect(key).toMatchObject({ id: '1', user: 'june-alpha', key: raw.key, reusable: true, ephemeral: false, used: false });
    const days = ((key.expiration as Date).getTime() - (key.createdAt as Date).getTime()) / 86_400_000;
    expect(days).toBeCloseTo(180, 2);
    // seen → registered with the redactor at once
    expect(redact(`x ${raw.key} y`)).toBe('x <redacted> y');
  });

  it('CLI: listed keys are full before 0.28 and a masked prefix on 0.28+', () => {
    const keys = parseText(CliPreAuthKeyListSchema, fx(v, 'cli/preauthkeys-list.json'), ctx(v)).map((k) => toPreAuthKey(k));
    expect(keys.length).toBeGreaterThanOrEqual(2);
    const created = JSON.parse(fx(v, 'cli/preauthkeys-create.json')) as { key: string };
    const first = keys.find((k) => k.id === '1');
    if (gen === 'v028') {
      expect(first?.key).toBeUndefined();
      expect(created.key.startsWith(`${first?.keyPrefix}-`)).toBe(true);
    } else {
      expect(first?.key).toBe(created.key);
      expect(first?.keyPrefix).toBeUndefined();
    }
    const eph = keys.find((k) => k.id === '2');
    expect(eph).toMatchObject({ reusable: false, ephemeral: true, user: 'june-alpha' });
  });

  it('CLI: nodes (nested user, Go zero time = no expiry)', () => {
    const nodes = parseText(CliNodeListSchema, fx(v, 'cli/nodes-list.json'), ctx(v)).map(toNode);
    expect(nodes).toHaveLength(1);
    expect(nodes[0]).toMatchObject({
      id: '1',
      name: 'june-node',
      givenName: 'june-node',
      user: 'june-alpha',
      ipAddresses: ['100.64.0.1', 'fd7a:115c:a1e0::1'],
      online: false,
    });
    expect(nodes[0]?.expiry).toBeUndefined();
  });

  it('API: camelCase, string ids, RFC3339, zero values present', () => {
    const users = parseText(ApiUserListSchema, fx(v, 'api/user-list.json'), ctx(v)).users.map(toUser);
    expect(users).toEqual([{ id: '1', name: 'june-alpha' }]);
    const created = toPreAuthKey(parseText(ApiPreAuthKeySchema, fx(v, 'api/preauthkey-create.json'), ctx(v)).pre_auth_key);
    expect(created).toMatchObject({ id: '3', user: 'june-beta', reusable: true, ephemeral: false, used: false });
    expect(created.key).toBeTruthy();
    expect(created.expiration?.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    const listed = parseText(ApiPreAuthKeyListSchema, fx(v, 'api/preauthkey-list.json'), ctx(v)).pre_auth_keys.map((k) => toPreAuthKey(k));
    expect(listed.map((k) => k.id)).toContain('3');
    const nodes = parseText(ApiNodeListSchema, fx(v, 'api/node-list.json'), ctx(v)).nodes.map(toNode);
    expect(nodes[0]).toMatchObject({ id: '1', user: 'june-alpha', givenName: 'june-node' });
    expect(nodes[0]?.expiry).toBeUndefined(); // "0001-01-01T00:00:00Z" = never
    if (gen === 'v028')
      expect(nodes[0]?.lastSeen).toBeInstanceOf(Date); // 0.29 `auth register` sets last_seen
    else expect(nodes[0]?.lastSeen).toBeUndefined();
  });
});

describe('garbage', () => {
  it('not JSON → ExternalError naming the command and version', () => {
    const err = (() => {
      try {
        parseText(CliUserListSchema, 'panic: runtime error', ctx('v0.26.1', 'headscale users list -o json'));
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ExternalError);
    expect((err as Error).message).toContain('`headscale users list -o json`');
    expect((err as Error).message).toContain('Headscale v0.26.1');
    expect((err as Error).message).toContain('not JSON');
  });

  it('wrong shape → ExternalError with the path of the problem, secrets redacted', () => {
    const text = JSON.stringify([{ id: 'x', name: 'a', key: 'hskey-auth-abcdef-secretsecret' }]);
    expect(() => parseText(CliPreAuthKeyListSchema, text, ctx('v0.29.2', 'headscale preauthkeys list -o json'))).toThrow(
      /`headscale preauthkeys list -o json` \(Headscale v0.29.2\): 0\.id/,
    );
    try {
      parseText(CliPreAuthKeyListSchema, text, ctx('v0.29.2'));
    } catch (e) {
      expect((e as Error).message).not.toContain('secretsecret');
    }
  });

  it('an object where a list belongs is rejected, not crashed on', () => {
    expect(() => parseText(CliUserListSchema, '{"users": []}', ctx('v0.23.0'))).toThrow(ExternalError);
  });

  it('tolerates a log line before the JSON', () => {
    const text = `2026-01-01T00:00:00Z WRN some warning\n${fx('v0.26.1', 'cli/users-list.json')}`;
    expect(parseText(CliUserListSchema, text, ctx('v0.26.1'))).toHaveLength(1);
  });
});

describe('versions', () => {
  it('parses what the binaries print and maps to a syntax generation', () => {
    expect(parseVersionString('v0.26.1')).toEqual({ major: 0, minor: 26, patch: 1 });
    expect(parseVersionString('0.28.0-beta.2')).toEqual({ major: 0, minor: 28, patch: 0 });
    expect(parseVersionString('dev')).toBeUndefined();
    expect(reportedVersion('dev')).toBeUndefined();
    expect([
      generationOf(0, 23),
      generationOf(0, 25),
      generationOf(0, 26),
      generationOf(0, 27),
      generationOf(0, 28),
      generationOf(1, 0),
    ]).toEqual(['v023', 'v023', 'v026', 'v026', 'v028', 'v028']);
    expect(assumedVersion('0.27')).toMatchObject({ minor: 27, generation: 'v026', source: 'assumed' });
    expect((['v023', 'v026', 'v028'] as const).map(generationRange)).toEqual(['0.23–0.25', '0.26–0.27', '0.28+']);
    expect(probedVersion('v026', 'dev')).toEqual({ major: 0, minor: 26, patch: 0, raw: 'dev', generation: 'v026', source: 'probed' });
  });
});
