// Runs inside one pod's network and mount namespaces, for the environment's kubelet:
// the stand-ins of the pod's app containers (an HTTP server on each declared port that
// answers with the pod's name and namespace) and the probes, which have to be made from
// inside the pod because its network has nothing but loopback. The kubelet (pods) compiles
// it to plain JavaScript once and starts it with plain node.
// Control API (HTTP over the unix socket <podDir>/agent.sock):
//   POST /probe {type:'http'|'tcp', port, path?, timeoutMs} -> {ok, message}
//   POST /app {container, ports, action:'start'|'stop'}     -> {ok}
// GET /e2e/probe on an app port answers as <podDir>/mode-<container> says: ok (default),
// fail (500), slow (waits 5 s, then 200).
import { createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const [podDir = '.', namespace, podName] = process.argv.slice(2);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ProbeRequest {
  type?: 'http' | 'tcp';
  port: number;
  path?: string;
  timeoutMs?: number;
  headers?: Record<string, string>;
}
export interface ProbeResult {
  ok: boolean;
  message: string;
}
export interface AppRequest {
  container: string;
  ports: number[];
  action: 'start' | 'stop';
}

const apps = new Map<string, Server[]>();

function mode(container: string): string {
  try {
    return readFileSync(join(podDir, `mode-${container}`), 'utf8').trim() || 'ok';
  } catch {
    return 'ok';
  }
}

function appServer(container: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const srv = createServer(async (req, res) => {
      if (req.url?.startsWith('/e2e/probe')) {
        const m = mode(container);
        if (m === 'fail') {
          res.writeHead(500).end('failing on purpose\n');
          return;
        }
        if (m === 'slow') await sleep(5000);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ pod: podName, namespace, container, port }) + '\n');
    });
    srv.once('error', reject);
    srv.listen(port, '0.0.0.0', () => resolve(srv));
  });
}

async function startApp(container: string, ports: number[]): Promise<void> {
  if (apps.has(container)) return;
  apps.set(container, await Promise.all(ports.map((p) => appServer(container, p))));
}

async function stopApp(container: string): Promise<void> {
  const servers = apps.get(container) ?? [];
  apps.delete(container);
  await Promise.all(
    servers.map(
      (s) =>
        new Promise((r) => {
          s.closeAllConnections?.();
          s.close(() => r(undefined));
        }),
    ),
  );
}

function httpProbe({ port, path = '/', timeoutMs = 1000, headers = {} }: ProbeRequest): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, headers, timeout: timeoutMs }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve({ ok: code >= 200 && code < 400, message: `HTTP ${code}` });
    });
    req.on('timeout', () => {
      req.destroy();
      resolve({ ok: false, message: `timeout after ${timeoutMs}ms` });
    });
    req.on('error', (e) => resolve({ ok: false, message: e.message }));
    req.end();
  });
}

function tcpProbe({ port, timeoutMs = 1000 }: ProbeRequest): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    const t = setTimeout(() => {
      s.destroy();
      resolve({ ok: false, message: `timeout after ${timeoutMs}ms` });
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(t);
      s.destroy();
      resolve({ ok: true, message: 'connected' });
    });
    s.once('error', (e) => {
      clearTimeout(t);
      resolve({ ok: false, message: e.message });
    });
  });
}

const control = createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', async () => {
    try {
      let out: ProbeResult | { ok: true };
      if (req.url === '/probe') {
        const a = JSON.parse(body || '{}') as ProbeRequest;
        out = a.type === 'tcp' ? await tcpProbe(a) : await httpProbe(a);
      } else if (req.url === '/app') {
        const a = JSON.parse(body || '{}') as AppRequest;
        await (a.action === 'stop' ? stopApp(a.container) : startApp(a.container, a.ports));
        out = { ok: true };
      } else {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(out));
    } catch (e) {
      res.writeHead(500).end(JSON.stringify({ ok: false, message: e instanceof Error ? e.message : String(e) }));
    }
  });
});
const sock = join(podDir, 'agent.sock');
rmSync(sock, { force: true });
control.listen(sock, () => console.log(`pod agent for ${namespace}/${podName} listening on ${sock}`));
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
