// The built CLI in a real pseudo-terminal (util-linux `script`) against a scripted fake
// API server (version, the run-lock Lease, slow namespace reads) and fake helm/kubectl: `install --only preflight`
// shows the live view (spinner on the running step, elapsed time, a ✓ line with its
// duration, cursor hidden and shown again); the same run piped prints plain lines only;
// Ctrl-C in the terminal ends the run with exit 130 and the cursor shown.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(__dirname, '../..');
const BIN = resolve(ROOT, 'bin/june-ts.js');
const EXAMPLE = resolve(ROOT, 'config.env.example');
const SCRIPT = '/usr/bin/script';
const tmp = mkdtempSync(join(tmpdir(), 'june-ts-pty-'));
// eslint-disable-next-line no-control-regex -- escape sequences are what this looks for
const ESC = /\u001b/;
const HIDE = '\u001b[?25l';
const SHOW = '\u001b[?25h';

let server: Server;
/** How the API answers preflight's namespace reads: slowly (not found after 2.5 s), or 503 for ever. */
let mode: 'slow' | 'unavailable' = 'slow';

beforeAll(async () => {
  let lease: unknown;
  server = createServer((req, res) => {
    const send = (code: number, body: unknown) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      if (req.url === '/version') return send(200, { major: '1', minor: '34', gitVersion: 'v1.34.0', platform: 'linux/amd64' });
      if (req.url?.startsWith('/api/v1/namespaces/')) {
        if (mode === 'unavailable') return send(503, { kind: 'Status', code: 503, message: 'unavailable' });
        return void setTimeout(() => send(404, { kind: 'Status', code: 404 }), 2500);
      }
      if (req.url?.startsWith('/apis/coordination.k8s.io/v1/namespaces/default/leases')) {
        if (req.method === 'POST')
          return send(201, (lease = { ...JSON.parse(body), metadata: { ...JSON.parse(body).metadata, resourceVersion: '1' } }));
        if (req.method === 'GET') return lease ? send(200, lease) : send(404, { kind: 'Status', code: 404 });
        if (req.method === 'PUT') return send(200, (lease = JSON.parse(body)));
        if (req.method === 'DELETE') return send(200, { kind: 'Status', code: 200 });
      }
      send(404, { kind: 'Status', code: 404, message: `fake API: ${req.method} ${req.url}` });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  writeFileSync(
    join(tmp, 'kubeconfig'),
    `apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: { server: 'http://127.0.0.1:${port}', insecure-skip-tls-verify: true }
users:
- name: u
  user: { token: t }
contexts:
- name: fake
  context: { cluster: fake, user: u }
current-context: fake
`,
  );
  const bin = join(tmp, 'bin');
  mkdirSync(bin);
  const fake = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  fake('helm', 'case "$1" in version) echo v3.17.3;; list) echo "[]";; *) echo "fake helm: $*" >&2; exit 1;; esac');
  fake('kubectl', `echo '{"clientVersion":{"gitVersion":"v1.34.0"}}'`);
});
afterAll(() => {
  server?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const env = () => ({
  PATH: `${join(tmp, 'bin')}:${dirname(process.execPath)}:/usr/bin:/bin`,
  HOME: tmp,
  TERM: 'xterm',
  NO_COLOR: '1',
  KUBECONFIG: join(tmp, 'kubeconfig'),
  HOST_HOSTNAME: 'june-host-1',
});
const ARGS = ['install', '--only', 'preflight', '--config', EXAMPLE];
/** Runs asynchronously: the fake API server answers from this process's event loop. */
function run(cmd: string, args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(cmd, args, { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (status) => done({ status, stdout, stderr }));
  });
}
// a pty made by `script` has no size until someone sets one, as a terminal window does
const command = () => `stty cols 120 rows 40; exec ${[process.execPath, BIN, ...ARGS].map((a) => `'${a}'`).join(' ')}`;

describe.skipIf(!existsSync(SCRIPT))('install in a pseudo-terminal', () => {
  it('live view: spinner with the running step and a changing elapsed time, then a ✓ line with its duration', async () => {
    mode = 'slow';
    const r = await run(SCRIPT, ['-qfec', command(), '/dev/null']);
    expect(r.status, r.stdout).toBe(0);
    const out = r.stdout;
    expect(out).toContain(HIDE);
    expect(out.lastIndexOf(SHOW)).toBeGreaterThan(out.lastIndexOf(HIDE));
    // each redraw of the live line: spinner, step, description, elapsed
    // eslint-disable-next-line no-control-regex -- the frame ends at the next escape sequence
    const frames = [...out.matchAll(/([⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏]) preflight {2}Check charts[^\u001b\r\n]*? {2}(\d+\.\ds)/g)];
    expect(new Set(frames.map((f) => f[2])).size).toBeGreaterThanOrEqual(2);
    expect(new Set(frames.map((f) => f[1])).size).toBeGreaterThan(1);
    expect(out).toMatch(/✓ preflight {2}[2-9]\.\ds\r?\n/);
    expect(out).toContain('○ 11-headscale skipped: not selected by --only');
    expect(out).toContain('✓ install complete');
  }, 60_000);

  it('the same run piped: plain lines, no escape sequences', async () => {
    mode = 'slow';
    const r = await run(process.execPath, [BIN, ...ARGS]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(ESC);
    expect(r.stderr).toMatch(/^✓ preflight \([2-9]\.\ds\)$/m);
    expect(r.stderr).toContain('○ 11-headscale skipped: not selected by --only\n');
  }, 60_000);

  it('Ctrl-C while a step runs: exit 130, live line gone, cursor shown', async () => {
    mode = 'unavailable';
    const child = spawn(SCRIPT, ['-qfec', command(), '/dev/null'], { env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const deadline = Date.now() + 30_000;
    while (!/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] preflight/.test(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    child.stdin.write('\u0003'); // the terminal's Ctrl-C: SIGINT to the foreground process group
    const code = await new Promise<number | null>((r) => child.on('close', r));
    expect(code).toBe(130);
    expect(out.lastIndexOf(SHOW)).toBeGreaterThan(out.lastIndexOf(HIDE));
    expect(out).toMatch(/✗ preflight {2}\d+\.\ds/);
    expect(out).toContain('interrupted');
  }, 60_000);
});
