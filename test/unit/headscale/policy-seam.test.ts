// Policy get / set / check through both wires: the text travels on stdin or in the body (never
// argv), `get` is read as text, a server without a policy or in file mode is told apart from
// a failure, the write goes through the gate, and check is asked only of 0.29+.
// Error texts are what the real binaries print (database mode, no policy stored; file mode
// with an empty path).
import { describe, expect, it } from 'vitest';
import { ExternalError } from '../../../src/errors.js';
import { createHeadscaleClient, kubectlExecPrefix } from '../../../src/headscale/index.js';
import { WriteGate, type PlanEntry } from '../../../src/write-gate.js';
import { FakeRunner } from '../../helpers/fake-runner.js';

const KUBECTL = { namespace: 'headscale' };
const P = kubectlExecPrefix(KUBECTL).join(' ');
const PI = kubectlExecPrefix({ ...KUBECTL, stdin: true }).join(' ');
const POLICY = '// note\n{"acls":[{"action":"accept","src":["june-host@"],"dst":["june-idp@:8080"]}]}\n';
const SUMMARY = { action: 'create' as const, rules: 1 };

function exec(runner: FakeRunner, version: string, gate = new WriteGate('off')) {
  runner.on(`${P} version`, { stdout: `${version}\n` }, 1);
  return createHeadscaleClient({ transport: 'exec', runner, gate, kubectl: KUBECTL });
}

describe('policy over the CLI', () => {
  it('exec -i only for the commands that read stdin', () => {
    expect(PI).toBe('kubectl -n headscale exec -i deployment/headscale -c headscale -- headscale');
  });

  it('get: the stored text byte for byte (without the newline the CLI prints after it)', async () => {
    const runner = new FakeRunner().on(`${P} policy get`, { stdout: `${POLICY}\n` });
    expect(await exec(runner, 'v0.26.1').getPolicy()).toEqual({ kind: 'stored', text: POLICY });
  });

  it.each([
    [
      'v0.23.0',
      { stdout: 'Failed loading ACL Policy: rpc error: code = Unknown desc = loading ACL from database: acl policy not found\n' },
    ],
    [
      'v0.29.3',
      { stderr: 'Error: loading ACL policy: rpc error: code = Unknown desc = loading ACL from database: acl policy not found\n' },
    ],
  ])('get on %s without a stored policy: none', async (v, out) => {
    const runner = new FakeRunner().on(`${P} policy get`, { ...out, exitCode: 1 });
    expect(await exec(runner, v).getPolicy()).toEqual({ kind: 'none' });
  });

  it('get in file mode with no file: file-mode, with the reason', async () => {
    const stderr =
      'Error: loading ACL policy: rpc error: code = Unknown desc = reading policy from path "": open : no such file or directory\n';
    const runner = new FakeRunner().on(`${P} policy get`, { stderr, exitCode: 1 });
    expect(await exec(runner, 'v0.29.3').getPolicy()).toEqual({
      kind: 'file-mode',
      reason: 'reading policy from path "": open : no such file or directory',
    });
  });

  it('get that fails otherwise throws', async () => {
    const runner = new FakeRunner().on(`${P} policy get`, { stderr: 'Error: connection refused\n', exitCode: 1 });
    await expect(exec(runner, 'v0.29.3').getPolicy()).rejects.toThrow(ExternalError);
  });

  it('set: the text on stdin of `exec -i`, argv stays small; through the gate', async () => {
    const runner = new FakeRunner().on(`${PI} policy set -f /dev/stdin`, { stdout: 'Policy updated.\n' });
    await exec(runner, 'v0.26.1').setPolicy(POLICY, SUMMARY);
    const call = runner.calls.at(-1)!;
    expect(call.options.input).toBe(POLICY);
    expect(call.args.join(' ')).not.toContain('acls');

    const plan: PlanEntry[] = [];
    const dry = new WriteGate('live');
    const quiet = new FakeRunner();
    await dry.collect(plan, () => exec(quiet, 'v0.26.1', dry).setPolicy(POLICY, SUMMARY));
    expect(quiet.commandLines()).toEqual([]);
    expect(plan).toMatchObject([{ kind: 'headscale', action: 'set policy', args: SUMMARY }]);
    expect(JSON.stringify(plan)).not.toContain('acls');
  });

  it('set rejected by Headscale: the reason in the error', async () => {
    const stdout =
      'Failed to set ACL Policy: rpc error: code = Unknown desc = setting policy: test(s) failed:\njune-host@: source "june-host@" resolved to no IP addresses\n';
    const runner = new FakeRunner().on(`${PI} policy set`, { stdout, exitCode: 1 });
    await expect(exec(runner, 'v0.29.3').setPolicy(POLICY, SUMMARY)).rejects.toThrow(/resolved to no IP addresses/);
  });

  it('check: on 0.29 through stdin; before 0.29 not asked at all', async () => {
    const runner = new FakeRunner().on(`${PI} policy check -f /dev/stdin`, { stdout: 'Policy is valid\n' });
    expect(await exec(runner, 'v0.29.3').checkPolicy(POLICY)).toBe(true);
    expect(runner.calls.at(-1)!.options.input).toBe(POLICY);
    const old = new FakeRunner();
    expect(await exec(old, 'v0.26.1').checkPolicy(POLICY)).toBe(false);
    expect(old.commandLines()).toEqual([`${P} version`]);
  });
});

describe('policy over the API', () => {
  const URL_ = 'https://hs.example.com';
  function api(answers: Record<string, { status: number; body: string }>, version = 'v0.29.3') {
    const seen: { method: string; path: string; body?: unknown }[] = [];
    const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(String(input));
      const method = init?.method ?? 'GET';
      seen.push({ method, path: url.pathname, body: init?.body ? JSON.parse(String(init.body)) : undefined });
      if (url.pathname === '/version') return new Response(JSON.stringify({ version }), { status: 200 });
      const a = answers[`${method} ${url.pathname}`];
      if (!a) throw new Error(`unexpected ${method} ${url.pathname}`);
      return new Response(a.body, { status: a.status });
    }) as typeof globalThis.fetch;
    const hs = createHeadscaleClient({ transport: 'api', gate: new WriteGate('off'), url: URL_, apiKey: 'test-api-key-123', fetch });
    return { hs, seen };
  }

  it('get: {"policy": text}', async () => {
    const { hs } = api({
      'GET /api/v1/policy': { status: 200, body: JSON.stringify({ policy: POLICY, updatedAt: '2026-12-01T06:05:26Z' }) },
    });
    expect(await hs.getPolicy()).toEqual({ kind: 'stored', text: POLICY });
  });

  it('get without a stored policy: none', async () => {
    const body = JSON.stringify({ code: 2, message: 'loading ACL from database: acl policy not found', details: [] });
    const { hs } = api({ 'GET /api/v1/policy': { status: 500, body } });
    expect(await hs.getPolicy()).toEqual({ kind: 'none' });
  });

  it('set: PUT with the text in the body; check: POST /policy/check on 0.29 only', async () => {
    const { hs, seen } = api({
      'PUT /api/v1/policy': { status: 200, body: JSON.stringify({ policy: POLICY }) },
      'POST /api/v1/policy/check': { status: 200, body: '{}' },
    });
    await hs.setPolicy(POLICY, SUMMARY);
    expect(await hs.checkPolicy(POLICY)).toBe(true);
    expect(seen.filter((s) => s.path !== '/version')).toEqual([
      { method: 'PUT', path: '/api/v1/policy', body: { policy: POLICY } },
      { method: 'POST', path: '/api/v1/policy/check', body: { policy: POLICY } },
    ]);
    const old = api({}, 'v0.26.1');
    expect(await old.hs.checkPolicy(POLICY)).toBe(false);
  });

  it('check that fails: Headscale says why', async () => {
    const body = JSON.stringify({ code: 3, message: 'parsing policy: parsing HuJSON: hujson: line 1, column 1: invalid literal: garbage' });
    const { hs } = api({ 'POST /api/v1/policy/check': { status: 400, body } });
    await expect(hs.checkPolicy('garbage')).rejects.toThrow(/invalid literal/);
  });
});
