// Proof for the sandbox primitives (test/e2e/env/netns.ts) and for the kernel-mode host
// (test/e2e/env/host.ts) against real headscale + tailscaled. Needs root, unshare/nsenter,
// iproute2 and /dev/net/tun. Under CI=true a missing binary fails; locally it skips.
//   npx vitest run --project e2e test/e2e/netns.test.ts      (JUNE_TS_E2E_HEADSCALE=v0.23.0|v0.26.1|v0.29.3)
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { createServer as createHttpServer, request, type Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { execFile } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { haveHeadscale, headscaleBinary, startHeadscale, type HeadscaleServer } from '../helpers/headscale-server.js';
import { sandboxTailscaleEnv, startHost, tailscaleBinDir, type Host } from './env/host.js';
import { createSandbox, type Sandbox } from './env/netns.js';

const CI = process.env.CI === 'true';

const listen = <S extends Server | HttpServer>(s: S): Promise<number> =>
  new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));

const rootMounts = () => readFileSync('/proc/self/mounts', 'utf8');

/** A throwaway Node script run inside a sandbox. */
const node = (src: string, ...args: string[]) => [process.execPath, '-e', src, ...args];

const HTTP_SERVER = `require('node:http').createServer((q, s) => s.end('hello from ' + process.argv[2] + ' ' + q.url)).listen(Number(process.argv[1]), '127.0.0.1', () => console.log('listening'))`;

async function waitListening(sb: Sandbox, port: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const r = await sb.exec(['curl', '-sS', '-o', '/dev/null', `http://127.0.0.1:${port}/`], { timeoutMs: 5000 });
    if (r.code === 0) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port} in sandbox ${sb.name}`);
}

const haveTools =
  ['/usr/bin/unshare', '/usr/bin/nsenter', '/usr/bin/setpriv', '/usr/bin/curl'].every(existsSync) && process.getuid?.() === 0;
const primitives = haveTools || CI ? describe : describe.skip;

primitives('sandbox primitives (netns.ts)', () => {
  let sb: Sandbox;
  let httpRoot: HttpServer;
  let rootPort = 0;
  let mountsBefore = '';
  const createMs: number[] = [];

  beforeAll(async () => {
    if (!haveTools) throw new Error('netns tests need root, unshare, nsenter, setpriv and curl (required under CI=true)');
    mountsBefore = rootMounts();
    httpRoot = createHttpServer((q, s) => s.end(`root says hi ${q.url}`));
    rootPort = await listen(httpRoot);
    sb = await createSandbox({ name: 'prim' });
  });

  afterAll(async () => {
    await sb?.destroy();
    httpRoot?.close();
  });

  it('has only lo, with loopback addresses', async () => {
    const links = await sb.exec(['ip', '-o', 'link', 'show']);
    expect(links.code).toBe(0);
    expect(
      links.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(':')[1]!.trim()),
    ).toEqual(['lo']);
    const addrs = await sb.exec(['ip', '-o', 'addr', 'show']);
    const inet = [...addrs.stdout.matchAll(/\binet6? (\S+)/g)].map((m) => m[1]);
    expect(inet.sort()).toEqual(['127.0.0.1/8', '::1/128']);
    expect((await sb.exec(['ip', 'route', 'show'])).stdout.trim()).toBe('');
  });

  it('reaches a root-namespace listener only through forward()', async () => {
    const before = await sb.exec(['curl', '-sS', '--max-time', '3', `http://127.0.0.1:${rootPort}/x`]);
    expect(before.code).toBe(7); // connection refused: nothing listens on the sandbox's loopback
    const f = await sb.forward(rootPort);
    const after = await sb.exec(['curl', '-sS', '--max-time', '5', `http://127.0.0.1:${rootPort}/x`]);
    expect(after.stdout).toBe('root says hi /x');
    await f.close();
    const closed = await sb.exec(['curl', '-sS', '--max-time', '3', `http://127.0.0.1:${rootPort}/x`]);
    expect(closed.code).toBe(7);
  });

  it('exposes a sandbox listener to the root namespace (TCP port and unix socket)', async () => {
    const inner = 18080;
    const srv = sb.spawn(node(HTTP_SERVER, String(inner), 'prim'));
    await waitListening(sb, inner);
    const e = await sb.expose(inner, { hostPort: 0 });
    expect(e.hostPort).toBeGreaterThan(0);
    expect(await (await fetch(`http://127.0.0.1:${e.hostPort}/a`)).text()).toBe('hello from prim /a');
    const viaSocket = await new Promise<string>((resolve, reject) => {
      request({ socketPath: e.socketPath, path: '/b' }, (res) => {
        let b = '';
        res.on('data', (d) => (b += d)).on('end', () => resolve(b));
      })
        .on('error', reject)
        .end();
    });
    expect(viaSocket).toBe('hello from prim /b');
    await e.close();
    await srv.stop();
  });

  it('carries a long byte-exact stream both ways and propagates half-close', async () => {
    // root side: echoes everything; when the client half-closes, reports the byte count and ends
    const sockets = new Set<import('node:net').Socket>();
    const echo = createServer({ allowHalfOpen: true }, (c) => {
      sockets.add(c);
      let n = 0;
      c.on('data', (d: Buffer) => {
        n += d.length;
        c.write(d);
      });
      c.on('end', () => c.end(`\nEND ${n}\n`));
    });
    const port = await listen(echo);
    const f = await sb.forward(port);
    // sandbox side: sends 24 MiB in chunks over ~2 s, half-closes, reads to EOF, checks the digest
    const client = `
      const net = require('node:net'), crypto = require('node:crypto');
      const total = 24 << 20, chunk = 256 << 10;
      const sent = crypto.createHash('sha256'), got = crypto.createHash('sha256');
      let rx = Buffer.alloc(0), echoed = 0;
      const s = net.connect({ host: '127.0.0.1', port: Number(process.argv[1]), allowHalfOpen: true });
      s.on('data', (d) => { const take = Math.min(d.length, total - echoed); got.update(d.subarray(0, take)); echoed += take; rx = Buffer.concat([rx, d.subarray(take)]); });
      s.on('end', () => {
        const a = sent.digest('hex'), b = got.digest('hex');
        console.log(JSON.stringify({ same: a === b, echoed, tail: rx.toString() }));
      });
      let off = 0;
      const pump = () => {
        if (off >= total) return s.end();
        const b = crypto.randomBytes(chunk); sent.update(b); off += chunk;
        if (s.write(b)) setTimeout(pump, 20); else s.once('drain', () => setTimeout(pump, 20));
      };
      pump();`;
    const r = await sb.exec(node(client, String(port)), { timeoutMs: 60_000 });
    expect(r.stderr).toBe('');
    const out = JSON.parse(r.stdout);
    expect(out).toEqual({ same: true, echoed: 24 << 20, tail: `\nEND ${24 << 20}\n` });
    // no connection left open on either side of the relay
    await expect.poll(() => f.connections(), { timeout: 3000 }).toBe(0);
    await expect.poll(() => sb.agentConnections(), { timeout: 3000 }).toBe(0);
    await f.close();
    echo.close();
    for (const s of sockets) s.destroy();
  });

  it('bind-mounts private files without touching the machine', async () => {
    const sa = `${sb.dir}/sa-src`;
    mkdirSync(sa);
    writeFileSync(`${sa}/token`, 'tok-123');
    writeFileSync(`${sa}/namespace`, 'june-services');
    await sb.bind(sa, '/var/run/secrets/kubernetes.io/serviceaccount', { readOnly: true });
    await sb.writeFile('/etc/hosts', '127.0.0.1 localhost kubernetes.default.svc\n');
    const r = await sb.exec([
      'sh',
      '-c',
      'cat /var/run/secrets/kubernetes.io/serviceaccount/token; echo; cat /etc/hosts; getent hosts kubernetes.default.svc; touch /var/run/secrets/kubernetes.io/serviceaccount/x 2>&1 || echo read-only',
    ]);
    expect(r.stdout).toContain('tok-123\n127.0.0.1 localhost kubernetes.default.svc\n');
    expect(r.stdout).toMatch(/127\.0\.0\.1\s+localhost kubernetes\.default\.svc/);
    expect(r.stdout).toContain('read-only');
    expect(existsSync('/var/run/secrets/kubernetes.io')).toBe(false);
    expect(readFileSync('/etc/hosts', 'utf8')).not.toContain('kubernetes.default.svc');
    // writes under /etc land in the sandbox's overlay, not on the machine
    const marker = `/etc/jns-${randomBytes(4).toString('hex')}`;
    expect((await sb.exec(['sh', '-c', `echo x > ${marker} && cat ${marker}`])).stdout).toBe('x\n');
    expect(existsSync(marker)).toBe(false);
    // outside the private dirs nothing is created
    await expect(sb.bind(sa, '/opt/jns-not-there/sa')).rejects.toThrow(/outside the private dirs/);
    expect(existsSync('/opt/jns-not-there')).toBe(false);
  });

  it('keeps forwards, exposes and bind sources working under a private /tmp mounted over the state dir', async () => {
    const s = await createSandbox({ name: 'privtmp' });
    try {
      const privTmp = `${s.dir}/tmp`;
      mkdirSync(privTmp, { mode: 0o1777 });
      await s.bind(privTmp, '/tmp');
      expect((await s.exec(['test', '-e', s.dir])).code).toBe(1); // the state dir's path is hidden inside now
      const f = await s.forward(rootPort);
      expect((await s.exec(['curl', '-sS', '--max-time', '5', `http://127.0.0.1:${rootPort}/t`])).stdout).toBe('root says hi /t');
      const later = `${s.dir}/later`;
      mkdirSync(later);
      writeFileSync(`${later}/f`, 'bound after /tmp');
      await s.bind(later, '/run/later');
      expect((await s.exec(['cat', '/run/later/f'])).stdout).toBe('bound after /tmp');
      const srv = s.spawn(node(HTTP_SERVER, '18081', 'privtmp'));
      await waitListening(s, 18081);
      const e = await s.expose(18081, { hostPort: 0 });
      expect(await (await fetch(`http://127.0.0.1:${e.hostPort}/u`)).text()).toBe('hello from privtmp /u');
      await srv.stop();
      await f.close();
    } finally {
      await s.destroy();
    }
  });

  it('creates a sandbox with two forwards fast, and teardown leaves nothing behind', async () => {
    const port2 = await listen(createHttpServer((q, s) => s.end('two')));
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const s = await createSandbox({ name: `speed${i}` });
      await Promise.all([s.forward(rootPort), s.forward(port2)]);
      createMs.push(Math.round(performance.now() - t0));
      // something long-running inside, in its own process group, plus a grandchild that escapes it
      const sleeper = s.spawn(['sh', '-c', 'setsid sleep 300 & exec sleep 300']);
      await expect.poll(() => s.members().length, { timeout: 3000 }).toBe(2);
      const members = s.members();
      const dir = s.dir;
      expect((await s.exec(['curl', '-sS', `http://127.0.0.1:${port2}/`])).stdout).toBe('two');
      await s.destroy();
      await sleeper.exited;
      for (const p of [...members, s.pid])
        expect(existsSync(`/proc/${p}`) && !readFileSync(`/proc/${p}/stat`, 'utf8').includes(') Z ')).toBe(false);
      expect(existsSync(dir)).toBe(false);
      expect(existsSync(`${dir}/fwd-${rootPort}.sock`)).toBe(false);
    }
    console.log(`sandbox + 2 forwards: ${createMs.join(' ms, ')} ms`);
    expect(Math.min(...createMs)).toBeLessThan(1500);
    expect(rootMounts()).toBe(mountsBefore);
  });
});

const HS_VERSION = process.env.JUNE_TS_E2E_HEADSCALE ?? 'v0.29.3';
const tsBin = tailscaleBinDir();
const missing = [
  ...(haveHeadscale(HS_VERSION) ? [] : [`headscale ${HS_VERSION} (${headscaleBinary(HS_VERSION)})`]),
  ...['tailscale', 'tailscaled'].filter((b) => !existsSync(join(tsBin, b))).map((b) => `${b} (${join(tsBin, b)})`),
  ...(existsSync('/dev/net/tun') ? [] : ['/dev/net/tun']),
];
if (missing.length && !CI) console.warn(`netns.test.ts: skipping the tailnet part, missing: ${missing.join(', ')}`);
const tailnet = (haveTools && !missing.length) || CI ? describe : describe.skip;

tailnet(`kernel-mode host reaches a peer by MagicDNS name (Headscale ${HS_VERSION})`, () => {
  const logsDir = join(homedir(), '.cache', 'june-ts-e2e', 'logs', 'netns-test');
  let hs: HeadscaleServer;
  let peer: Sandbox;
  let host: Host;
  let key = '';
  let baseDomain = '';
  const peerSocket = () => join(peer.dir, 'tailscaled.sock');
  const peerCli = (args: string[]) =>
    new Promise<string>((resolve, reject) =>
      execFile(join(tsBin, 'tailscale'), [`--socket=${peerSocket()}`, ...args], { timeout: 90_000 }, (err, out, errOut) =>
        err ? reject(new Error(`tailscale ${args[0]} (peer): ${String(errOut).trim()}`)) : resolve(String(out)),
      ),
    );
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    if (missing.length)
      throw new Error(
        `e2e binaries missing: ${missing.join(', ')} (required under CI=true); build them with: bash scripts/tools/e2e-toolchain.sh`,
      );
    mkdirSync(logsDir, { recursive: true });
    hs = await startHeadscale(HS_VERSION);
    baseDomain = /base_domain: (\S+)/.exec(readFileSync(hs.config, 'utf8'))![1]!;
    const hsCli = async (args: string[]) => {
      const r = await hs.cli(args);
      if (r.exitCode !== 0) throw new Error(`headscale ${args.slice(0, 2).join(' ')} failed: ${r.stderr}`);
      return r.stdout;
    };
    await hsCli(['users', 'create', 'e2e']);
    const user = (JSON.parse(await hsCli(['users', 'list', '-o', 'json'])) as Array<{ id: string | number; name: string }>).find(
      (u) => u.name === 'e2e',
    )!;
    const minor = Number(/^v?0\.(\d+)/.exec(HS_VERSION)![1]);
    key = JSON.parse(
      await hsCli([
        'preauthkeys',
        'create',
        '-u',
        minor >= 26 ? String(user.id) : user.name,
        '--reusable',
        '--expiration',
        '1h',
        '-o',
        'json',
      ]),
    ).key;
    expect(key.length).toBeGreaterThan(10);

    // the peer: a userspace tailscaled and a tiny HTTP server, both on the peer sandbox's loopback
    peer = await createSandbox({ name: 'peer' });
    await peer.forward(Number(new URL(hs.url).port));
    peer.spawn(node(HTTP_SERVER, '8080', 'peer-app'));
    const peerLog = join(logsDir, `peer-${HS_VERSION}.log`);
    writeFileSync(peerLog, '');
    const td = peer.spawn(
      [join(tsBin, 'tailscaled'), '--tun=userspace-networking', `--socket=${peerSocket()}`, `--statedir=${join(peer.dir, 'state')}`],
      {
        env: sandboxTailscaleEnv(join(peer.dir, 'state')),
        stdout: peerLog,
        stderr: peerLog,
      },
    );
    for (
      const deadline = Date.now() + 20_000;
      !(await peerCli(['status', '--json']).then(
        () => true,
        () => false,
      ));
    ) {
      if (td.child.exitCode !== null || Date.now() > deadline)
        throw new Error(`peer tailscaled not answering:\n${readFileSync(peerLog, 'utf8').slice(-2000)}`);
      await new Promise((res) => setTimeout(res, 100));
    }
    const keyFile = join(peer.dir, 'authkey');
    writeFileSync(keyFile, key, { mode: 0o600 });
    await peerCli([
      'up',
      `--login-server=${hs.url}`,
      `--auth-key=file:${keyFile}`,
      '--hostname=peer',
      '--accept-dns=false',
      '--timeout=60s',
    ]);
  });

  afterAll(async () => {
    console.log(`host timings (Headscale ${HS_VERSION}): ${JSON.stringify(timings)}`);
    await host?.stop();
    await peer?.destroy();
    await hs?.stop();
  });

  it('joins the kernel-mode host and curls the peer by its MagicDNS name from inside the host sandbox', async () => {
    const resolvBefore = readFileSync('/etc/resolv.conf', 'utf8');
    let t0 = performance.now();
    const hostLog = join(logsDir, `host-${HS_VERSION}.log`);
    writeFileSync(hostLog, '');
    host = await startHost({ headscaleUrl: hs.url, logFile: hostLog });
    timings.startHostMs = Math.round(performance.now() - t0);
    expect((await host.status()).BackendState).toBe('NeedsLogin');

    t0 = performance.now();
    await host.up({ authKey: key, hostname: 'host' });
    timings.joinMs = Math.round(performance.now() - t0);
    const st = await host.status();
    expect(st.BackendState).toBe('Running');
    // Headscale 0.23 sends DNS names without the trailing dot, 0.26+ with it
    const fqdn = (n?: string) => n?.replace(/\.$/, '');
    expect(fqdn(st.Self?.DNSName)).toBe(`host.${baseDomain}`);
    const prefs = JSON.parse(await host.cli(['debug', 'prefs'])) as { NetfilterMode?: number; CorpDNS?: boolean };
    expect(prefs).toMatchObject({ NetfilterMode: 0, CorpDNS: true }); // netfilter off, DNS accepted
    const peers = Object.values(st.Peer ?? {});
    expect(peers.map((p) => fqdn(p.DNSName))).toContain(`peer.${baseDomain}`);

    // a TUN device in the host sandbox, and tailscaled pointed the private resolv.conf at MagicDNS
    const links = await host.sandbox.exec(['ip', '-o', 'addr', 'show', 'dev', 'tailscale0']);
    expect(links.stdout).toMatch(/inet 100\.64\.\d+\.\d+\/32/);
    expect(await host.resolvConf()).toMatch(/^nameserver 100\.100\.100\.100$/m);
    expect(readFileSync('/etc/resolv.conf', 'utf8')).toBe(resolvBefore);

    t0 = performance.now();
    const url = `http://peer.${baseDomain}:8080/hello`;
    let r = await host.curl(url);
    while (r.code !== 0 && performance.now() - t0 < 30_000) {
      await new Promise((res) => setTimeout(res, 200));
      r = await host.curl(url);
    }
    timings.firstCurlMs = Math.round(performance.now() - t0);
    expect(r.stderr).toBe('');
    expect(r.body).toBe('hello from peer-app /hello');
    // the name resolves through 100.100.100.100 inside the sandbox, to the peer's tailnet address
    const peerIps = peers.find((p) => p.HostName === 'peer')!.TailscaleIPs ?? [];
    const resolved = await host.sandbox.exec(['getent', 'ahostsv4', `peer.${baseDomain}`]);
    expect(resolved.stdout.split(/\s+/)[0]).toBe(peerIps.find((ip) => ip.includes('.')));
    // the root namespace cannot resolve it: MagicDNS is private to the host sandbox
    expect(resolvBefore).not.toContain('100.100.100.100');
  });

  it('keeps answering under a 100 ms load loop', async () => {
    expect(host, 'host joined in the previous test').toBeDefined();
    const urls = [`http://peer.${baseDomain}:8080/a`, `http://peer.${baseDomain}:8080/b`];
    const t0 = performance.now();
    const run = host.loadLoop(urls, { intervalMs: 100, maxMs: 4000, maxRequests: 60 });
    const result = await run.done;
    const ms = performance.now() - t0;
    console.log(`load loop (${Math.round(ms)} ms): ${JSON.stringify(result)}`);
    for (const u of urls) {
      expect(result[u]!.failures, JSON.stringify(result[u]!.errors)).toBe(0);
      expect(result[u]!.requests).toBeGreaterThanOrEqual(25);
      expect(result[u]!.successes).toBe(result[u]!.requests);
      expect(result[u]!.longestGapMs).toBeLessThan(1000);
      expect(result[u]!.lastBody).toBe(`hello from peer-app /${u.slice(-1)}`);
    }
    // stop() ends a loop early with what it measured
    const early = host.loadLoop(urls.slice(0, 1), { maxMs: 60_000 });
    await new Promise((res) => setTimeout(res, 700));
    const partial = await early.stop();
    expect(partial[urls[0]!]!.requests).toBeGreaterThan(2);
    expect(partial[urls[0]!]!.requests).toBeLessThan(30);
  });
});
