// Who a service is on the tailnet (src/domain/identity.ts): its user or its tag, what a policy
// must declare for the tags, which nodes and keys are its own, and the refusal on a Headscale
// that cannot own keys by tag.
import { describe, expect, it } from 'vitest';
import {
  assertIdentitySupported,
  describeIdentity,
  everyIdentityOf,
  identityOf,
  keyOwnerOf,
  nodeHasIdentity,
  tagOwnersFor,
  usersNeeded,
} from '../../src/domain/identity.js';
import { judgeKey } from '../../src/domain/keys.js';
import { PreflightError } from '../../src/errors.js';
import { keyOwnedBy } from '../../src/headscale/common.js';
import { assumedVersion, type HsNode, type HsPreAuthKey } from '../../src/headscale/types.js';

const USER = { tailnetIdentity: 'user' } as const;
const TAG = { tailnetIdentity: 'tag' } as const;
const SERVICES = ['orchestrator', 'idp'];

const node = (o: Partial<HsNode>): HsNode => ({
  id: '1',
  name: 'june-idp',
  givenName: 'june-idp',
  user: 'june-idp',
  ipAddresses: [],
  online: true,
  ...o,
});
const key = (o: Partial<HsPreAuthKey>): HsPreAuthKey => ({ id: '7', user: '', reusable: true, ephemeral: false, used: false, ...o });

describe('identityOf', () => {
  it('user (the default): the Headscale user june-<svc>; tag: tag:june-<svc>', () => {
    expect(identityOf('idp', USER)).toEqual({ kind: 'user', user: 'june-idp' });
    expect(identityOf('idp', TAG)).toEqual({ kind: 'tag', tag: 'tag:june-idp' });
    expect(describeIdentity(identityOf('idp', USER))).toBe('user june-idp');
    expect(describeIdentity(identityOf('idp', TAG))).toBe('tag tag:june-idp');
    expect(everyIdentityOf('idp')).toEqual([identityOf('idp', USER), identityOf('idp', TAG)]);
  });

  it('users are needed only with user identities; tags need declaring only with tag identities, owned by nobody', () => {
    expect(usersNeeded(SERVICES, USER)).toEqual(['june-orchestrator', 'june-idp']);
    expect(usersNeeded(SERVICES, TAG)).toEqual([]);
    expect(tagOwnersFor(SERVICES, USER)).toEqual({});
    expect(tagOwnersFor(SERVICES, TAG)).toEqual({ 'tag:june-orchestrator': [], 'tag:june-idp': [] });
  });

  it("a key's owner: the listed user (none yet: undefined), or the tag", () => {
    const users = [{ id: '3', name: 'june-idp' }];
    expect(keyOwnerOf(identityOf('idp', USER), users)).toEqual({ id: '3', name: 'june-idp' });
    expect(keyOwnerOf(identityOf('orchestrator', USER), users)).toBeUndefined();
    expect(keyOwnerOf(identityOf('idp', TAG), [])).toEqual({ tag: 'tag:june-idp' });
  });
});

describe('what an identity owns', () => {
  it("a tagged node belongs to its tag, never to a user (0.28+ shows it under the placeholder user 'tagged-devices')", () => {
    const tagged = node({ user: 'tagged-devices', tags: ['tag:june-idp'] });
    expect(nodeHasIdentity(tagged, identityOf('idp', TAG))).toBe(true);
    expect(nodeHasIdentity(tagged, identityOf('orchestrator', TAG))).toBe(false);
    expect(nodeHasIdentity(tagged, identityOf('idp', USER))).toBe(false);
    expect(nodeHasIdentity(node({}), identityOf('idp', USER))).toBe(true);
    expect(nodeHasIdentity(node({}), identityOf('idp', TAG))).toBe(false);
    expect(nodeHasIdentity(node({ user: 'june-orchestrator' }), identityOf('idp', USER))).toBe(false);
  });

  it('a key belongs to the tag it carries, or to its user; a tag-owned key is no user key', () => {
    const tagged = key({ aclTags: ['tag:june-idp'] });
    expect(keyOwnedBy(tagged, { tag: 'tag:june-idp' })).toBe(true);
    expect(keyOwnedBy(tagged, { tag: 'tag:june-orchestrator' })).toBe(false);
    expect(keyOwnedBy(tagged, { id: '3', name: 'june-idp' })).toBe(false);
    expect(keyOwnedBy(key({ user: 'june-idp' }), { id: '3', name: 'june-idp' })).toBe(true);
    expect(keyOwnedBy(key({ user: 'june-idp' }), { tag: 'tag:june-idp' })).toBe(false);
  });

  it('judgeKey: a user key in the Secret is replaced once the service is a tag (and the reverse)', () => {
    const value = 'hskey-auth-AbCdEf012345-secretsecret';
    const userKey = key({ user: 'june-idp', keyPrefix: 'hskey-auth-AbCdEf012345' });
    const tagKey = key({ aclTags: ['tag:june-idp'], keyPrefix: 'hskey-auth-AbCdEf012345' });
    const now = new Date();
    expect(judgeKey(value, { tag: 'tag:june-idp' }, [userKey], now, 0)).toEqual({
      keep: false,
      reason: 'the key belongs to user june-idp, not tag:june-idp',
    });
    expect(judgeKey(value, { id: '3', name: 'june-idp' }, [tagKey], now, 0)).toEqual({
      keep: false,
      reason: 'the key belongs to tag tag:june-idp, not june-idp',
    });
    expect(judgeKey(value, { tag: 'tag:june-idp' }, [tagKey], now, 0)).toMatchObject({ keep: true });
  });
});

describe('assertIdentitySupported', () => {
  const since = { since: '0.28+' };
  it('tag on a Headscale without tag-owned keys: PreflightError (exit 2) naming the version and both ways out', () => {
    const err = (() => {
      try {
        assertIdentitySupported(TAG, { supported: false, ...since }, assumedVersion('v0.26.1'));
      } catch (e) {
        return e as PreflightError;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(PreflightError);
    expect(err!.exitCode).toBe(2);
    expect(err!.message).toBe(
      'TAILNET_IDENTITY=tag needs Headscale 0.28+ (keys and nodes owned by a tag); this Headscale is v0.26.1, which owns keys only by user',
    );
    expect(err!.hint).toMatch(/set TAILNET_IDENTITY=user .*or upgrade Headscale to 0\.28\+ one minor release at a time/);
  });

  it('user identities never need it; tag is fine where supported', () => {
    expect(() => assertIdentitySupported(USER, { supported: false, ...since }, assumedVersion('v0.23.0'))).not.toThrow();
    expect(() => assertIdentitySupported(TAG, { supported: true, ...since }, assumedVersion('v0.29.3'))).not.toThrow();
  });
});
