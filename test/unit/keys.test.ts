import { describe, expect, it } from 'vitest';
import type { HsPreAuthKey, HsUser } from '../../src/headscale/types.js';
import { MINTED_KEYS_ANNOTATION } from '../../src/names.js';
import { judgeKey, keyMatches, readMintedRecord } from '../../src/domain/keys.js';

const DAY = 86_400_000;
const NOW = new Date('2026-03-01T12:00:00Z');
const RENEW = 30 * DAY;
const USER: HsUser = { id: '7', name: 'june-orchestrator' };
const VALUE = 'a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6';
const V028 = 'hskey-auth-AbCdEf012345-s3cr3tpartofthekeyvalue0123';

function key(over: Partial<HsPreAuthKey> = {}): HsPreAuthKey {
  return {
    id: '1',
    user: USER.name,
    key: VALUE,
    reusable: true,
    ephemeral: false,
    used: true,
    expiration: new Date(NOW.getTime() + 90 * DAY),
    ...over,
  };
}

describe('keyMatches', () => {
  it.each<[string, Partial<HsPreAuthKey>, string, boolean]>([
    ['full key equal', { key: VALUE }, VALUE, true],
    ['full key different', { key: VALUE }, `${VALUE}x`, false],
    ['full key is authoritative over a prefix', { key: VALUE, keyPrefix: 'hskey-auth-AbCdEf012345' }, V028, false],
    ['0.28 prefix matches the key it abbreviates', { key: undefined, keyPrefix: 'hskey-auth-AbCdEf012345' }, V028, true],
    ['0.28 prefix of another key', { key: undefined, keyPrefix: 'hskey-auth-ZZZZZZ012345' }, V028, false],
    ['0.28 prefix needs the dash separator', { key: undefined, keyPrefix: 'hskey-auth-AbCdEf01234' }, V028, false],
    ['the bare prefix itself is not a key', { key: undefined, keyPrefix: 'hskey-auth-AbCdEf012345' }, 'hskey-auth-AbCdEf012345', false],
    ['neither key nor prefix', { key: undefined, keyPrefix: undefined }, VALUE, false],
    ['empty prefix matches nothing', { key: undefined, keyPrefix: '' }, '-x', false],
  ])('%s', (_name, over, value, want) => {
    expect(keyMatches(key(over), value)).toBe(want);
  });
});

describe('judgeKey', () => {
  const cases: [string, string | undefined, HsPreAuthKey[], { keep: true; id: string } | { keep: false; reason: string }][] = [
    ['no key in the Secret', undefined, [key()], { keep: false, reason: 'no key in the Secret' }],
    ['empty value', '', [key()], { keep: false, reason: 'no key in the Secret' }],
    [
      'unknown to Headscale',
      'garbage-value-not-a-key',
      [key()],
      { keep: false, reason: 'the key in the Secret is unknown to Headscale (deleted, garbage, or from another server)' },
    ],
    [
      'nothing known',
      VALUE,
      [],
      { keep: false, reason: 'the key in the Secret is unknown to Headscale (deleted, garbage, or from another server)' },
    ],
    [
      'belongs to another user',
      VALUE,
      [key({ user: 'june-idp' })],
      { keep: false, reason: 'the key belongs to user june-idp, not june-orchestrator' },
    ],
    ['expired', VALUE, [key({ expiration: new Date(NOW.getTime() - 1000) })], { keep: false, reason: 'the key has expired' }],
    ['expires exactly now', VALUE, [key({ expiration: new Date(NOW.getTime()) })], { keep: false, reason: 'the key has expired' }],
    [
      'within the renewal margin',
      VALUE,
      [key({ expiration: new Date(NOW.getTime() + 10 * DAY + 3600_000) })],
      { keep: false, reason: 'the key expires in 10 day(s), within the renewal margin' },
    ],
    [
      'one minute inside the margin',
      VALUE,
      [key({ expiration: new Date(NOW.getTime() + RENEW - 60_000) })],
      { keep: false, reason: 'the key expires in 29 day(s), within the renewal margin' },
    ],
    ['exactly at the margin is kept', VALUE, [key({ id: '9', expiration: new Date(NOW.getTime() + RENEW) })], { keep: true, id: '9' }],
    ['not reusable', VALUE, [key({ reusable: false })], { keep: false, reason: 'the key is not reusable' }],
    ['valid, reusable, far from expiry', VALUE, [key({ id: 'other', key: 'x'.repeat(48) }), key({ id: '42' })], { keep: true, id: '42' }],
    ['no expiration at all', VALUE, [key({ id: '5', expiration: undefined })], { keep: true, id: '5' }],
    ['0.28 prefix match', V028, [key({ id: '28', key: undefined, keyPrefix: 'hskey-auth-AbCdEf012345' })], { keep: true, id: '28' }],
    [
      '0.28 tag-only key (user empty) is not rejected for its user',
      V028,
      [key({ id: '29', user: '', key: undefined, keyPrefix: 'hskey-auth-AbCdEf012345' })],
      { keep: true, id: '29' },
    ],
    [
      '0.28 prefix of another key',
      V028,
      [key({ key: undefined, keyPrefix: 'hskey-auth-000000000000' })],
      { keep: false, reason: 'the key in the Secret is unknown to Headscale (deleted, garbage, or from another server)' },
    ],
  ];
  for (const [name, value, known, want] of cases) {
    it(name, () => {
      const verdict = judgeKey(value, USER, known, NOW, RENEW);
      if (want.keep) {
        expect(verdict.keep).toBe(true);
        expect(verdict.keep && verdict.record.id).toBe(want.id);
      } else {
        expect(verdict).toEqual(want);
      }
    });
  }

  it('the checks come in order: user before expiry before reusability', () => {
    const all = key({ user: 'june-idp', expiration: new Date(NOW.getTime() - 1), reusable: false });
    expect(judgeKey(VALUE, USER, [all], NOW, RENEW)).toEqual({
      keep: false,
      reason: 'the key belongs to user june-idp, not june-orchestrator',
    });
    expect(judgeKey(VALUE, USER, [{ ...all, user: USER.name }], NOW, RENEW)).toEqual({ keep: false, reason: 'the key has expired' });
  });

  it('a zero margin keeps a key until it expires', () => {
    expect(judgeKey(VALUE, USER, [key({ expiration: new Date(NOW.getTime() + 1000) })], NOW, 0).keep).toBe(true);
  });
});

describe('readMintedRecord', () => {
  const ann = (v: string) => ({ [MINTED_KEYS_ANNOTATION]: v, other: 'x' });
  it.each<[string, Record<string, string> | undefined, Record<string, string>]>([
    ['no annotations', undefined, {}],
    ['annotation absent', { other: '{"idp":"1"}' }, {}],
    ['a service → id map', ann('{"idp":"3","orchestrator":"12"}'), { idp: '3', orchestrator: '12' }],
    ['non-string ids dropped', ann('{"idp":3,"stt":"4","x":null,"y":{"a":"b"}}'), { stt: '4' }],
    ['garbage JSON', ann('{not json'), {}],
    ['an array', ann('["1","2"]'), {}],
    ['a string', ann('"idp"'), {}],
    ['null', ann('null'), {}],
  ])('%s', (_n, annotations, want) => {
    expect(readMintedRecord(annotations)).toEqual(want);
  });
});
