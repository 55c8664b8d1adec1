// Sandboxes for the e2e environment: a network namespace with only `lo` plus a mount
// namespace, held by one small Node agent inside them. Processes join both namespaces
// with nsenter; TCP crosses between a sandbox and the root namespace only through unix
// sockets (a socket path is reachable from every network namespace), so no interface
// ever gets an address outside loopback.
//
// Inside a sandbox /etc and /var are overlays (writes land in the sandbox's own dir,
// never on the machine) and /run is an empty tmpfs (the machine's tree is reachable at
// /run/.jns-host for bind sources); /tmp and everything else is shared.
//
// Longer than most files on purpose: the sandbox's handle (createSandbox), its in-namespace
// agent and the socket plumbing share one protocol and one namespace layout; split apart,
// each piece would only make sense read beside the others.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import { createInterface } from 'node:readline';

/** One answer of the sandbox agent to a command (its fields depend on the command). */
type AgentReply = Record<string, unknown>;

export interface SandboxOptions {
  /** Used in the state dir name and error messages. */
  name?: string;
  /** Parent of the sandbox's state dir (default: the OS temp dir). Keep it short: unix socket paths are limited to 107 bytes. */
  parentDir?: string;
  /** Content of the private /etc/hosts (default: localhost only). */
  hosts?: string;
  /** Content of the private /etc/resolv.conf (default: a nameserver on the sandbox's own loopback, where nothing answers). */
  resolvConf?: string;
  /** Directories overlaid (copy-on-write into the state dir) inside the sandbox. */
  overlays?: string[];
  /** Directories replaced by an empty tmpfs inside the sandbox. */
  tmpfs?: string[];
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  /** Working directory (a path of the shared filesystem, opened before entering the sandbox). */
  cwd?: string;
  stdin?: 'ignore' | 'pipe';
  /** 'pipe', 'ignore', 'inherit', or a file path (appended). */
  stdout?: 'pipe' | 'ignore' | 'inherit' | string;
  stderr?: 'pipe' | 'ignore' | 'inherit' | string;
  /** SIGKILL the process if this Node process dies first (default true). */
  dieWithParent?: boolean;
}

export interface SandboxProcess {
  pid: number;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Signals the whole process group. */
  kill(signal?: NodeJS.Signals): void;
  /** SIGTERM to the group, SIGKILL after graceMs; resolves once the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

export interface Forward {
  /** Port on 127.0.0.1 inside the sandbox (forward) or of the sandbox's listener (expose). */
  port: number;
  socketPath: string;
  /** expose only: the root-namespace TCP port, when one was asked for. */
  hostPort?: number;
  /** Relayed connections open right now on the root side. */
  connections(): number;
  close(): Promise<void>;
}

export interface Sandbox {
  name: string;
  dir: string;
  /** The holder (agent) process: /proc/<pid>/ns/{net,mnt} are the sandbox's namespaces. */
  pid: number;
  netns: string;
  mntns: string;
  /** Bind-mounts src (file or dir of the shared filesystem) at dst inside the sandbox. */
  bind(src: string, dst: string, opts?: { readOnly?: boolean }): Promise<void>;
  /** Puts a file with this content at dst inside the sandbox (bind-mounted from the state dir). */
  writeFile(dst: string, content: string, opts?: { mode?: number; readOnly?: boolean }): Promise<void>;
  spawn(argv: string[], opts?: SpawnOptions): SandboxProcess;
  /**
   * Where a file of the machine is seen inside the sandbox even if a private mount (e.g. a
   * pod's /tmp) hides its own path: run a program of the repository this way, wherever the
   * repository was cloned.
   */
  hostPath(path: string): string;
  /** Runs argv to completion inside the sandbox (never rejects on exit status; bounded by timeoutMs). */
  exec(
    argv: string[],
    opts?: Omit<SpawnOptions, 'stdout' | 'stderr' | 'stdin'> & { input?: string; timeoutMs?: number },
  ): Promise<ExecResult>;
  /** 127.0.0.1:port inside the sandbox → unix socket → 127.0.0.1:(targetPort ?? port) of the root namespace. */
  forward(port: number, opts?: { targetPort?: number }): Promise<Forward>;
  /** A unix socket (and, with hostPort, 127.0.0.1:hostPort of the root namespace; 0 picks one) → 127.0.0.1:port inside the sandbox. */
  expose(port: number, opts?: { hostPort?: number }): Promise<Forward>;
  /** Open relayed connections inside the agent (both directions). */
  agentConnections(): Promise<number>;
  /** Pids of every process whose network or mount namespace is this sandbox's, the agent excluded. */
  members(): number[];
  destroy(graceMs?: number): Promise<void>;
}

const DEFAULT_HOSTS = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n';
const DEFAULT_RESOLV = '# private to this e2e sandbox\nnameserver 127.0.0.1\n';

// The agent keeps the namespaces alive and relays between TCP on the sandbox's loopback and
// unix sockets. One JSON command per stdin line, one JSON answer per stdout line. It reaches its
// sockets through a descriptor of the state dir (argv[1]) opened at start, so they keep working
// when a private /tmp is mounted over the dir's path later (and the paths stay short). When stdin
// closes (its owner died or tore it down) it kills everything left in its namespaces, empties the
// state dir and exits.
const AGENT = String.raw`
const net = require('node:net'), fs = require('node:fs');
const base = '/proc/self/fd/' + fs.openSync(process.argv[1], 'r');
const at = (name) => base + '/' + name;
const conns = new Set(), servers = new Map();
const send = (o) => process.stdout.write(JSON.stringify(o) + '\n');
function splice(a, b) {
  for (const s of [a, b]) { conns.add(s); s.once('close', () => conns.delete(s)); }
  a.on('error', () => { a.destroy(); b.destroy(); });
  b.on('error', () => { a.destroy(); b.destroy(); });
  a.once('close', (hadError) => { if (hadError || !a.readableEnded) b.destroy(); });
  b.once('close', (hadError) => { if (hadError || !b.readableEnded) a.destroy(); });
  a.pipe(b); b.pipe(a);
}
function listen(id, server, addr) {
  server.once('error', (e) => send({ id, error: String(e.message) }));
  server.listen(addr, () => { servers.set(id, server); send({ id, ok: true }); });
}
const ops = {
  forward({ id, port, name }) {
    listen(id, net.createServer({ allowHalfOpen: true }, (c) => splice(c, net.connect({ path: at(name), allowHalfOpen: true }))), { host: '127.0.0.1', port });
  },
  expose({ id, port, name }) {
    try { fs.rmSync(at(name), { force: true }); } catch {}
    listen(id, net.createServer({ allowHalfOpen: true }, (u) => splice(u, net.connect({ host: '127.0.0.1', port, allowHalfOpen: true }))), { path: at(name) });
  },
  close({ id, target }) { servers.get(target)?.close(); servers.delete(target); send({ id, ok: true }); },
  stats({ id }) { send({ id, ok: true, connections: conns.size / 2 }); },
};
function killOthers() {
  const mine = ['net', 'mnt'].map((n) => fs.readlinkSync('/proc/self/ns/' + n));
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try { if (['net', 'mnt'].some((n, i) => fs.readlinkSync('/proc/' + p + '/ns/' + n) === mine[i])) process.kill(Number(p), 'SIGKILL'); } catch {}
  }
}
require('node:readline').createInterface({ input: process.stdin }).on('line', (l) => {
  let m; try { m = JSON.parse(l); } catch { return; }
  try { ops[m.op](m); } catch (e) { send({ id: m.id, error: String(e && e.message) }); }
}).on('close', () => {
  killOthers();
  // never recurse through a mount: only when nothing is mounted below the state dir
  const mounted = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => (l.split(' ')[4] || '').startsWith(process.argv[1] + '/'));
  if (!mounted) {
    for (const e of fs.readdirSync(base)) fs.rmSync(at(e), { recursive: true, force: true });
    try { if (fs.statSync(process.argv[1]).ino === fs.statSync(base).ino) fs.rmdirSync(process.argv[1]); } catch {}
  }
  process.exit(0);
});
send({ ready: true });
`;

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Sandboxes not destroyed yet: torn down synchronously if this process exits. */
const live = new Set<{ destroySync(): void }>();
let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => {
    for (const s of live) s.destroySync();
  });
  const signals: Array<[NodeJS.Signals, number]> = [
    ['SIGINT', 2],
    ['SIGTERM', 15],
    ['SIGHUP', 1],
  ];
  for (const [sig, n] of signals) process.once(sig, () => process.exit(128 + n));
}

function nsLink(pid: number, ns: 'net' | 'mnt'): string {
  return readlinkSync(`/proc/${pid}/ns/${ns}`);
}

/** Pids (other than `except`) in the given network or mount namespace. */
function pidsIn(netns: string, mntns: string, except: number): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === except || Number(p) === process.pid) continue;
    try {
      if (readlinkSync(`/proc/${p}/ns/net`) === netns || readlinkSync(`/proc/${p}/ns/mnt`) === mntns) out.push(Number(p));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone */
    }
  }
}

/** Copies bytes both ways with half-close; either side failing tears down both. */
function splice(a: Socket, b: Socket, track: Set<Socket>): void {
  for (const s of [a, b]) {
    track.add(s);
    s.once('close', () => track.delete(s));
  }
  const fail = () => {
    a.destroy();
    b.destroy();
  };
  a.on('error', fail);
  b.on('error', fail);
  a.once('close', (hadError) => {
    if (hadError || !a.readableEnded) b.destroy();
  });
  b.once('close', (hadError) => {
    if (hadError || !b.readableEnded) a.destroy();
  });
  a.pipe(b);
  b.pipe(a);
}

function listenServer(server: Server, addr: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: Server, sockets: Set<Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

export async function createSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  hookExit();
  const name = opts.name ?? 'sandbox';
  const dir = mkdtempSync(join(opts.parentDir ?? tmpdir(), `jns-${name.replace(/[^A-Za-z0-9-]/g, '').slice(0, 16)}-`));
  if (Buffer.byteLength(dir) > 86) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `sandbox ${name}: state dir ${dir} is too long for unix socket paths (107 bytes with the socket name); use a shorter parentDir`,
    );
  }
  const overlays = opts.overlays ?? ['/etc', '/var'];
  const tmpfs = opts.tmpfs ?? ['/run'];
  // The machine's tree stays visible at hostRoot (inside the first private tmpfs) so bind()
  // finds its sources even after a private dir is mounted over their path (e.g. /tmp).
  const hostRoot = tmpfs[0] ? `${tmpfs[0]}/.jns-host` : '';
  const setup = ['set -e', 'ip link set lo up'];
  for (const target of tmpfs) setup.push(`mount -t tmpfs -o mode=755 tmpfs ${q(target)}`);
  if (hostRoot) setup.push(`mkdir ${q(hostRoot)}`, `mount --rbind / ${q(hostRoot)}`);
  overlays.forEach((target, i) => {
    const upper = join(dir, `ov${i}`, 'upper'),
      work = join(dir, `ov${i}`, 'work');
    mkdirSync(upper, { recursive: true });
    mkdirSync(work, { recursive: true });
    if (target === '/etc') {
      writeFileSync(join(upper, 'hosts'), opts.hosts ?? DEFAULT_HOSTS);
      writeFileSync(join(upper, 'resolv.conf'), opts.resolvConf ?? DEFAULT_RESOLV);
    }
    setup.push(`mount -t overlay overlay -o ${q(`lowerdir=${target},upperdir=${upper},workdir=${work}`)} ${q(target)}`);
  });
  setup.push(`exec ${q(process.execPath)} -e ${q(AGENT)} ${q(dir)}`);

  const agent = spawn('unshare', ['--net', '--mount', '--propagation', 'private', '--', 'sh', '-c', setup.join('\n')], {
    stdio: ['pipe', 'pipe', 'pipe'],
    detached: true,
  });
  let agentErr = '';
  agent.stderr!.on('data', (d: Buffer) => {
    agentErr += d.toString();
  });
  const agentExited = new Promise<void>((resolve) => agent.once('exit', () => resolve()));
  const pending = new Map<number, { resolve: (m: AgentReply) => void; reject: (e: Error) => void }>();
  let nextId = 1;
  let readyResolve!: () => void;
  const ready = new Promise<void>((resolve) => {
    readyResolve = resolve;
  });
  createInterface({ input: agent.stdout! }).on('line', (line) => {
    let m: AgentReply & { ready?: boolean; id?: number; error?: string };
    try {
      m = JSON.parse(line);
    } catch {
      return;
    }
    if (m.ready) return readyResolve();
    const p = pending.get(m.id ?? -1);
    if (!p) return;
    pending.delete(m.id ?? -1);
    if (m.error) p.reject(new Error(`sandbox ${name}: ${m.error}`));
    else p.resolve(m);
  });
  void agentExited.then(() => {
    for (const p of pending.values()) p.reject(new Error(`sandbox ${name}: agent exited: ${agentErr.trim()}`));
    pending.clear();
  });
  /** Sends one command; `id` names the listener it creates, for a later `close`. */
  const ask = (m: Record<string, unknown>, id = nextId++): Promise<AgentReply> => {
    if (agent.exitCode !== null || agent.signalCode !== null)
      return Promise.reject(new Error(`sandbox ${name}: agent is gone: ${agentErr.trim()}`));
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      agent.stdin!.write(JSON.stringify({ ...m, id }) + '\n');
    });
  };

  const fail = async (why: string): Promise<never> => {
    killGroup(agent.pid!, 'SIGKILL');
    await agentExited;
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`sandbox ${name}: ${why}: ${agentErr.trim()}`);
  };
  const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15_000).unref());
  const first = await Promise.race([ready.then(() => 'ready' as const), agentExited.then(() => 'exited' as const), timer]);
  if (first !== 'ready') return fail(first === 'exited' ? 'agent exited during setup' : 'agent not ready after 15 s');

  const pid = agent.pid!;
  const netns = nsLink(pid, 'net');
  const mntns = nsLink(pid, 'mnt');
  const procs = new Set<SandboxProcess>();
  const forwards = new Set<Forward>();
  let fileSeq = 0;
  let destroyed = false;

  const nsenter = (argv: string[], cwd: string | undefined, dieWithParent: boolean) => [
    '--target',
    String(pid),
    '--net',
    '--mount',
    ...(cwd ? [`--wd=${cwd}`] : []),
    '--',
    ...(dieWithParent ? ['setpriv', '--pdeathsig', 'KILL', '--'] : []),
    ...argv,
  ];

  const sandbox: Sandbox = {
    name,
    dir,
    pid,
    netns,
    mntns,

    hostPath(path) {
      return hostRoot ? `${hostRoot}${path}` : path;
    },

    spawn(argv, o = {}) {
      const fds: number[] = [];
      const io = (v: string | undefined, dflt: 'pipe' | 'ignore'): 'pipe' | 'ignore' | 'inherit' | number => {
        const x = v ?? dflt;
        if (x === 'pipe' || x === 'ignore' || x === 'inherit') return x;
        const fd = openSync(x, 'a');
        fds.push(fd);
        return fd;
      };
      const stdio: StdioOptions = [o.stdin ?? 'ignore', io(o.stdout, 'ignore'), io(o.stderr, 'ignore')];
      const child = spawn('nsenter', nsenter(argv, o.cwd, o.dieWithParent ?? true), { stdio, env: o.env ?? process.env, detached: true });
      for (const fd of fds) closeSync(fd);
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('exit', (code, signal) => {
          procs.delete(handle);
          resolve({ code, signal });
        }),
      );
      child.once('error', () => {
        /* reported through exit */
      });
      const handle: SandboxProcess = {
        pid: child.pid ?? -1,
        child,
        exited,
        kill(signal = 'SIGTERM') {
          if (child.pid) killGroup(child.pid, signal);
        },
        async stop(graceMs = 3000) {
          if (child.exitCode !== null || child.signalCode !== null || !child.pid) return;
          killGroup(child.pid, 'SIGTERM');
          const t = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), graceMs);
          await exited;
          clearTimeout(t);
        },
      };
      if (child.pid) procs.add(handle);
      return handle;
    },

    async exec(argv, o = {}) {
      const t0 = Date.now();
      const p = sandbox.spawn(argv, { ...o, stdin: o.input === undefined ? 'ignore' : 'pipe', stdout: 'pipe', stderr: 'pipe' });
      let stdout = '',
        stderr = '';
      p.child.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString();
      });
      p.child.stderr!.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      if (o.input !== undefined) p.child.stdin!.end(o.input);
      let timedOut = false;
      const t = setTimeout(() => {
        timedOut = true;
        p.kill('SIGKILL');
      }, o.timeoutMs ?? 30_000);
      const { code, signal } = await p.exited;
      clearTimeout(t);
      return { code, signal, stdout, stderr, timedOut, ms: Date.now() - t0 };
    },

    async bind(src, dst, o = {}) {
      if (!src.startsWith('/') || !existsSync(src))
        throw new Error(`sandbox ${name}: bind source ${src} does not exist (an absolute path is needed)`);
      const dstN = posix.normalize(dst.replace(/^\/var\/run(?=\/|$)/, '/run'));
      const creatable = [...overlays, ...tmpfs].some((d) => dstN === d || dstN.startsWith(d + '/'));
      const script = [
        'set -e',
        'if [ ! -e "$2" ]; then',
        '  [ "$4" = yes ] || { echo "$2 does not exist and is outside the private dirs" >&2; exit 3; }',
        '  if [ -d "$1" ]; then mkdir -p "$2"; else mkdir -p "$(dirname "$2")"; : > "$2"; fi',
        'fi',
        'mount --bind "$1" "$2"',
        'if [ "$3" = ro ]; then mount -o remount,bind,ro "$2"; fi',
      ].join('\n');
      const r = await sandbox.exec(
        ['sh', '-c', script, 'sh', `${hostRoot}${src}`, dstN, o.readOnly ? 'ro' : 'rw', creatable ? 'yes' : 'no'],
        { timeoutMs: 10_000 },
      );
      if (r.code !== 0) throw new Error(`sandbox ${name}: bind ${src} at ${dst} failed: ${r.stderr.trim()}`);
    },

    async writeFile(dst, content, o = {}) {
      const files = join(dir, 'files');
      mkdirSync(files, { recursive: true });
      const src = join(files, `${fileSeq++}-${posix.basename(dst)}`);
      writeFileSync(src, content, { mode: o.mode ?? 0o644 });
      await sandbox.bind(src, dst, { readOnly: o.readOnly });
    },

    async forward(port, o = {}) {
      const targetPort = o.targetPort ?? port;
      const socketPath = join(dir, `fwd-${port}.sock`);
      const sockets = new Set<Socket>();
      const server = createServer({ allowHalfOpen: true }, (u) =>
        splice(u, createConnection({ host: '127.0.0.1', port: targetPort, allowHalfOpen: true }), sockets),
      );
      await listenServer(server, { path: socketPath });
      const agentId = nextId++;
      try {
        await ask({ op: 'forward', port, name: posix.basename(socketPath) }, agentId);
      } catch (e) {
        await closeServer(server, sockets);
        throw e;
      }
      const f: Forward = {
        port,
        socketPath,
        connections: () => sockets.size / 2,
        async close() {
          forwards.delete(f);
          await ask({ op: 'close', target: agentId }).catch(() => undefined);
          await closeServer(server, sockets);
        },
      };
      forwards.add(f);
      return f;
    },

    async expose(port, o = {}) {
      const socketPath = join(dir, `exp-${port}.sock`);
      const agentId = nextId++;
      await ask({ op: 'expose', port, name: posix.basename(socketPath) }, agentId);
      const sockets = new Set<Socket>();
      let server: Server | undefined;
      let hostPort: number | undefined;
      if (o.hostPort !== undefined) {
        server = createServer({ allowHalfOpen: true }, (c) =>
          splice(c, createConnection({ path: socketPath, allowHalfOpen: true }), sockets),
        );
        try {
          await listenServer(server, { host: '127.0.0.1', port: o.hostPort });
        } catch (e) {
          await ask({ op: 'close', target: agentId }).catch(() => undefined);
          throw e;
        }
        hostPort = (server.address() as { port: number }).port;
      }
      const f: Forward = {
        port,
        socketPath,
        hostPort,
        connections: () => sockets.size / 2,
        async close() {
          forwards.delete(f);
          if (server) await closeServer(server, sockets);
          await ask({ op: 'close', target: agentId }).catch(() => undefined);
        },
      };
      forwards.add(f);
      return f;
    },

    async agentConnections() {
      return (await ask({ op: 'stats' })).connections as number;
    },

    members: () => (agent.exitCode === null && agent.signalCode === null ? pidsIn(netns, mntns, pid) : []),

    async destroy(graceMs = 3000) {
      if (destroyed) return;
      destroyed = true;
      live.delete(syncHandle);
      await Promise.all([...forwards].map((f) => f.close()));
      await Promise.all([...procs].map((p) => p.stop(graceMs)));
      for (const p of sandbox.members()) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      agent.stdin!.end();
      const t = setTimeout(() => killGroup(pid, 'SIGKILL'), 2000);
      await agentExited;
      clearTimeout(t);
      rmSync(dir, { recursive: true, force: true });
    },
  };

  const syncHandle = {
    destroySync() {
      if (destroyed) return;
      destroyed = true;
      for (const p of procs) if (p.child.pid) killGroup(p.child.pid, 'SIGKILL');
      try {
        for (const p of pidsIn(netns, mntns, pid)) process.kill(p, 'SIGKILL');
      } catch {
        /* best effort */
      }
      killGroup(pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  live.add(syncHandle);
  return sandbox;
}
