// The access policy june-ts derives from the config: its rules, each dialect's rendering, the
// 0.29 tests block, and how june-ts recognises its own policy when it reads one back.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeRules, policyDialectOf, servicePrincipal, type PolicyInput } from '../../src/domain/policy.js';
import { policyOwnership } from '../../src/domain/policy-marker.js';
import { missingRules, parseHuJson } from '../../src/domain/policy-read.js';
import { releasedPolicy, renderPolicy } from '../../src/domain/policy-render.js';

const INPUT: PolicyInput = {
  services: [
    { name: 'orchestrator', ports: [8080] },
    { name: 'idp', ports: [8080] },
    { name: 'stt', ports: [8000] },
  ],
  admins: ['alice', 'bob@example.com'],
  edges: [{ from: 'orchestrator', to: 'idp' }],
  identity: { tailnetIdentity: 'user' },
};
const ALL = new Set(['june-host@', 'alice@', 'bob@example.com', 'june-orchestrator@', 'june-idp@', 'june-stt@']);

describe('policy dialects', () => {
  it('follows the Headscale version: bare users before 0.26, user@ after, grants from 0.29', () => {
    expect(policyDialectOf({ major: 0, minor: 23 })).toBe('v023');
    expect(policyDialectOf({ major: 0, minor: 25 })).toBe('v023');
    expect(policyDialectOf({ major: 0, minor: 26 })).toBe('v026');
    expect(policyDialectOf({ major: 0, minor: 28 })).toBe('v026');
    expect(policyDialectOf({ major: 0, minor: 29 })).toBe('v029');
    expect(servicePrincipal('idp', { tailnetIdentity: 'user' }, 'v023')).toBe('june-idp');
    expect(servicePrincipal('idp', { tailnetIdentity: 'user' }, 'v026')).toBe('june-idp@');
    expect(servicePrincipal('idp', { tailnetIdentity: 'user' }, 'v029')).toBe('june-idp@');
  });

  it('0.23: acls with bare user names, tcp only, no tests', () => {
    const p = renderPolicy(INPUT, 'v023', ALL);
    const doc = parseHuJson(p.text);
    expect(doc).toEqual({
      acls: [
        { action: 'accept', src: ['june-host', 'alice', 'bob@example.com'], proto: 'tcp', dst: ['june-orchestrator:8080'] },
        { action: 'accept', src: ['june-host', 'alice', 'bob@example.com'], proto: 'tcp', dst: ['june-idp:8080'] },
        { action: 'accept', src: ['june-host', 'alice', 'bob@example.com'], proto: 'tcp', dst: ['june-stt:8000'] },
        { action: 'accept', src: ['june-orchestrator'], proto: 'tcp', dst: ['june-idp:8080'] },
      ],
    });
    expect(p.tests).toEqual([]);
  });

  it('0.26: acls with user@ (an OIDC name that has its @ keeps it)', () => {
    const doc = parseHuJson(renderPolicy(INPUT, 'v026', ALL).text) as { acls: { src: string[]; dst: string[] }[] };
    expect(doc.acls.map((a) => [a.src, a.dst])).toEqual([
      [['june-host@', 'alice@', 'bob@example.com'], ['june-orchestrator@:8080']],
      [['june-host@', 'alice@', 'bob@example.com'], ['june-idp@:8080']],
      [['june-host@', 'alice@', 'bob@example.com'], ['june-stt@:8000']],
      [['june-orchestrator@'], ['june-idp@:8080']],
    ]);
    expect(doc).not.toHaveProperty('tests');
  });

  it('0.29: grants, and tests with the allowed and the denied pairs', () => {
    const p = renderPolicy(INPUT, 'v029', ALL);
    const doc = parseHuJson(p.text) as { grants: unknown[]; tests: unknown[] };
    expect(doc.grants).toEqual([
      { src: ['june-host@', 'alice@', 'bob@example.com'], dst: ['june-orchestrator@'], ip: ['tcp:8080'] },
      { src: ['june-host@', 'alice@', 'bob@example.com'], dst: ['june-idp@'], ip: ['tcp:8080'] },
      { src: ['june-host@', 'alice@', 'bob@example.com'], dst: ['june-stt@'], ip: ['tcp:8000'] },
      { src: ['june-orchestrator@'], dst: ['june-idp@'], ip: ['tcp:8080'] },
    ]);
    const operatorTest = {
      accept: ['june-orchestrator@:8080', 'june-idp@:8080', 'june-stt@:8000'],
      deny: ['june-orchestrator@:22', 'june-idp@:22', 'june-stt@:22'],
    };
    const operatorsUnreachable = ['june-host@:22', 'alice@:22', 'bob@example.com:22'];
    expect(doc.tests).toEqual([
      { src: 'june-host@', ...operatorTest },
      { src: 'alice@', ...operatorTest },
      { src: 'bob@example.com', ...operatorTest },
      { src: 'june-orchestrator@', accept: ['june-idp@:8080'], deny: ['june-stt@:8000', ...operatorsUnreachable] },
      { src: 'june-idp@', deny: ['june-orchestrator@:8080', 'june-stt@:8000', ...operatorsUnreachable] },
      { src: 'june-stt@', deny: ['june-orchestrator@:8080', 'june-idp@:8080', ...operatorsUnreachable] },
    ]);
  });

  it('0.29 tests name only principals that own a node (Headscale fails a test whose ends resolve to no address)', () => {
    const p = renderPolicy(INPUT, 'v029', new Set(['june-orchestrator@', 'june-idp@']));
    expect(p.tests).toEqual([
      { src: 'june-orchestrator@', accept: ['june-idp@:8080'] },
      { src: 'june-idp@', deny: ['june-orchestrator@:8080'] },
    ]);
    expect(renderPolicy(INPUT, 'v029').tests).toEqual([]);
    expect(parseHuJson(renderPolicy(INPUT, 'v029').text)).not.toHaveProperty('tests');
  });

  it('a declared port is never the denied probe', () => {
    const p = renderPolicy(
      { ...INPUT, services: [{ name: 'ssh', ports: [22, 23] }], edges: [] },
      'v029',
      new Set(['june-host@', 'june-ssh@']),
    );
    expect(p.tests[0]).toEqual({ src: 'june-host@', accept: ['june-ssh@:22', 'june-ssh@:23'], deny: ['june-ssh@:24'] });
  });

  it('the rules digest ignores the tests block, so nodes coming and going change nothing', () => {
    expect(renderPolicy(INPUT, 'v029', ALL).digest).toBe(renderPolicy(INPUT, 'v029').digest);
    expect(renderPolicy(INPUT, 'v029').digest).not.toBe(renderPolicy({ ...INPUT, edges: [] }, 'v029').digest);
    expect(renderPolicy(INPUT, 'v026').digest).not.toBe(renderPolicy(INPUT, 'v029').digest);
  });

  it('describes each rule in one line', () => {
    expect(describeRules(renderPolicy({ ...INPUT, admins: [] }, 'v026').rules)).toEqual([
      'june-host@ → june-orchestrator@ tcp/8080',
      'june-host@ → june-idp@ tcp/8080',
      'june-host@ → june-stt@ tcp/8000',
      'june-orchestrator@ → june-idp@ tcp/8080',
    ]);
  });
});

describe('tag identities (TAILNET_IDENTITY=tag, Headscale 0.28+)', () => {
  const TAGGED: PolicyInput = { ...INPUT, identity: { tailnetIdentity: 'tag' } };
  const TAGS = ['tag:june-orchestrator', 'tag:june-idp', 'tag:june-stt'];
  const OWNERS = { 'tag:june-orchestrator': [], 'tag:june-idp': [], 'tag:june-stt': [] };
  const PRESENT = new Set(['june-host@', 'alice@', 'bob@example.com', ...TAGS]);

  it('a service is its tag in every dialect; the host and the admins stay users', () => {
    expect(servicePrincipal('idp', { tailnetIdentity: 'tag' }, 'v026')).toBe('tag:june-idp');
    expect(servicePrincipal('idp', { tailnetIdentity: 'tag' }, 'v029')).toBe('tag:june-idp');
  });

  it('0.28: tagOwners (owned by nobody) declares every tag the acls name', () => {
    const p = renderPolicy(TAGGED, 'v026', PRESENT);
    expect(parseHuJson(p.text)).toEqual({
      tagOwners: OWNERS,
      acls: [
        { action: 'accept', src: ['june-host@', 'alice@', 'bob@example.com'], proto: 'tcp', dst: ['tag:june-orchestrator:8080'] },
        { action: 'accept', src: ['june-host@', 'alice@', 'bob@example.com'], proto: 'tcp', dst: ['tag:june-idp:8080'] },
        { action: 'accept', src: ['june-host@', 'alice@', 'bob@example.com'], proto: 'tcp', dst: ['tag:june-stt:8000'] },
        { action: 'accept', src: ['tag:june-orchestrator'], proto: 'tcp', dst: ['tag:june-idp:8080'] },
      ],
    });
    expect(p.tests).toEqual([]);
    expect(p.text.indexOf('"tagOwners"')).toBeLessThan(p.text.indexOf('"acls"'));
  });

  it('0.29: tagOwners, grants to the tags, and tests whose services are their tags', () => {
    const p = renderPolicy(TAGGED, 'v029', PRESENT);
    const doc = parseHuJson(p.text) as { tagOwners: unknown; grants: unknown[]; tests: unknown[] };
    expect(doc.tagOwners).toEqual(OWNERS);
    expect(doc.grants).toEqual([
      { src: ['june-host@', 'alice@', 'bob@example.com'], dst: ['tag:june-orchestrator'], ip: ['tcp:8080'] },
      { src: ['june-host@', 'alice@', 'bob@example.com'], dst: ['tag:june-idp'], ip: ['tcp:8080'] },
      { src: ['june-host@', 'alice@', 'bob@example.com'], dst: ['tag:june-stt'], ip: ['tcp:8000'] },
      { src: ['tag:june-orchestrator'], dst: ['tag:june-idp'], ip: ['tcp:8080'] },
    ]);
    const operatorsUnreachable = ['june-host@:22', 'alice@:22', 'bob@example.com:22'];
    expect(doc.tests).toContainEqual({
      src: 'june-host@',
      accept: ['tag:june-orchestrator:8080', 'tag:june-idp:8080', 'tag:june-stt:8000'],
      deny: ['tag:june-orchestrator:22', 'tag:june-idp:22', 'tag:june-stt:22'],
    });
    expect(doc.tests).toContainEqual({
      src: 'tag:june-orchestrator',
      accept: ['tag:june-idp:8080'],
      deny: ['tag:june-stt:8000', ...operatorsUnreachable],
    });
    expect(doc.tests).toContainEqual({
      src: 'tag:june-idp',
      deny: ['tag:june-orchestrator:8080', 'tag:june-stt:8000', ...operatorsUnreachable],
    });
    // tests name a service only once its tag owns a node; a user of the same name does not count
    expect(renderPolicy(TAGGED, 'v029', new Set(['june-host@', 'june-idp@'])).tests).toEqual([]);
    expect(renderPolicy(TAGGED, 'v029', new Set(['june-host@', 'tag:june-idp'])).tests).toEqual([
      { src: 'june-host@', accept: ['tag:june-idp:8080'], deny: ['tag:june-idp:22'] },
      { src: 'tag:june-idp', deny: ['june-host@:22'] },
    ]);
  });

  it('the identity changes the rules digest (a switch rewrites the policy); doctor reads tag rules back', () => {
    expect(renderPolicy(TAGGED, 'v029').digest).not.toBe(renderPolicy(INPUT, 'v029').digest);
    for (const dialect of ['v026', 'v029'] as const) {
      const p = renderPolicy(TAGGED, dialect);
      expect(missingRules(p.rules, parseHuJson(p.text))).toEqual([]);
      expect(describeRules(missingRules(p.rules, parseHuJson(renderPolicy(INPUT, dialect).text)))).toContain(
        'tag:june-orchestrator → tag:june-idp tcp/8080',
      );
    }
  });

  it('with user identities no tagOwners is written', () => {
    expect(parseHuJson(renderPolicy(INPUT, 'v029', ALL).text)).not.toHaveProperty('tagOwners');
    expect(parseHuJson(renderPolicy(INPUT, 'v026', ALL).text)).not.toHaveProperty('tagOwners');
  });
});

describe('ownership', () => {
  const mine = renderPolicy(INPUT, 'v026');

  it('knows its own policy, and an absent one', () => {
    expect(policyOwnership(mine.text)).toEqual({ state: 'owned', digest: mine.digest });
    expect(policyOwnership(undefined)).toEqual({ state: 'absent' });
    expect(policyOwnership('  \n')).toEqual({ state: 'absent' });
    expect(policyOwnership(releasedPolicy())).toEqual({ state: 'released' });
  });

  it('an operator policy is foreign; its own policy edited by hand is "edited"', () => {
    expect(policyOwnership('{"acls":[{"action":"accept","src":["*"],"dst":["*:*"]}]}')).toEqual({ state: 'foreign' });
    expect(policyOwnership(mine.text.replace('8080', '8081'))).toEqual({ state: 'edited' });
    expect(policyOwnership(mine.text + '// a note\n')).toEqual({ state: 'edited' });
    expect(policyOwnership(releasedPolicy().replace('"*:*"', '"*:22"'))).toEqual({ state: 'edited' });
  });

  it('the released policy is Headscale default (allow all) written out', () => {
    expect(parseHuJson(releasedPolicy())).toEqual({ acls: [{ action: 'accept', src: ['*'], dst: ['*:*'] }] });
  });
});

describe('missingRules (doctor)', () => {
  const v026 = renderPolicy(INPUT, 'v026');
  const v029 = renderPolicy(INPUT, 'v029');

  it('its own policy grants everything, in both forms', () => {
    expect(missingRules(v026.rules, parseHuJson(v026.text))).toEqual([]);
    expect(missingRules(v029.rules, parseHuJson(v029.text))).toEqual([]);
    expect(missingRules(v029.rules, parseHuJson(releasedPolicy()))).toEqual([]);
  });

  it('names the rule a hand-edited policy lost', () => {
    const doc = parseHuJson(v026.text) as { acls: unknown[] };
    doc.acls.splice(3, 1);
    expect(describeRules(missingRules(v026.rules, doc))).toEqual(['june-orchestrator@ → june-idp@ tcp/8080']);
    const narrowed = { grants: [{ src: ['june-host@'], dst: ['june-idp@'], ip: ['tcp:1-100'] }] };
    expect(missingRules(v029.rules, narrowed)).toHaveLength(4);
  });

  it('port ranges and wildcards count', () => {
    const wide = { acls: [{ action: 'accept', src: ['*'], dst: ['june-orchestrator@:8000-8100', 'june-idp@:*', 'june-stt@:8000'] }] };
    expect(missingRules(v026.rules, wide)).toEqual([]);
    expect(missingRules(v026.rules, { acls: [] })).toHaveLength(4);
    expect(missingRules(v026.rules, null)).toHaveLength(4);
  });
});

describe('parseHuJson', () => {
  it('drops comments and trailing commas, keeps // inside strings', () => {
    expect(parseHuJson('// c\n{\n /* b */ "a": ["x//y", "z",],\n}\n')).toEqual({ a: ['x//y', 'z'] });
  });
});

describe('README', () => {
  it('shows the policy june-ts generates for the example config (with TAILNET_ADMINS=alice,bob and the orchestrator->idp edge)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /The policy for `config\.env\.example`[\s\S]*?```\n([\s\S]*?)```/.exec(readme)?.[1];
    const example: PolicyInput = {
      services: [
        { name: 'orchestrator', ports: [8080] },
        { name: 'idp', ports: [8080] },
      ],
      admins: ['alice', 'bob'],
      edges: [{ from: 'orchestrator', to: 'idp' }],
      identity: { tailnetIdentity: 'user' },
    };
    const all = new Set(['june-host@', 'alice@', 'bob@', 'june-orchestrator@', 'june-idp@']);
    expect(block).toBe(renderPolicy(example, 'v029', all).text);
  });

  it('shows the same policy with tag identities (TAILNET_IDENTITY=tag)', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const block = /\*\*With tag identities\*\*[\s\S]*?```\n([\s\S]*?)```/.exec(readme)?.[1];
    const example: PolicyInput = {
      services: [
        { name: 'orchestrator', ports: [8080] },
        { name: 'idp', ports: [8080] },
      ],
      admins: ['alice', 'bob'],
      edges: [{ from: 'orchestrator', to: 'idp' }],
      identity: { tailnetIdentity: 'tag' },
    };
    const all = new Set(['june-host@', 'alice@', 'bob@', 'tag:june-orchestrator', 'tag:june-idp']);
    expect(block).toBe(renderPolicy(example, 'v029', all).text);
  });
});
