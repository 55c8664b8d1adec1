// What kube-proxy (and, for the env, the Ingress) does for one Service: 127.0.0.1:<port> of
// the machine reaches the Service's port on a ready pod it selects. The pods' own sandboxes
// forward the same port to here, so every client (june-ts, the host, the sidecars) uses one
// address. No ready endpoint: the connection is reset, as a Service without endpoints would.
import { createConnection, createServer, type Socket } from 'node:net';
import * as k8s from '@kubernetes/client-node';

export interface ServiceProxyOptions {
  port: number;
  namespace: string;
  service: string;
  portName: string;
  kubeconfig: string;
  /** the unix socket of a ready pod that matches selector and serves targetPort */
  endpoint: (namespace: string, selector: Record<string, string>, targetPort: string | number) => string | undefined;
  log: (m: string) => void;
}
export interface ServiceProxy {
  url: string;
  stop(): Promise<void>;
}

export async function startServiceProxy({
  port,
  namespace,
  service,
  portName,
  kubeconfig,
  endpoint,
  log,
}: ServiceProxyOptions): Promise<ServiceProxy> {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  let cached: { at: number; spec: k8s.V1ServiceSpec | undefined } = { at: 0, spec: undefined };
  const serviceSpec = async () => {
    if (Date.now() - cached.at < 1000) return cached.spec;
    const svc = await core.readNamespacedService({ name: service, namespace }).catch(() => undefined);
    cached = { at: Date.now(), spec: svc?.spec };
    return cached.spec;
  };
  const sockets = new Set<Socket>();
  const server = createServer({ allowHalfOpen: true }, async (client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    const spec = await serviceSpec();
    const p = spec?.ports?.find((x) => x.name === portName) ?? spec?.ports?.[0];
    const path = spec?.selector && p ? endpoint(namespace, spec.selector, p.targetPort ?? p.port) : undefined;
    if (!path) {
      client.resetAndDestroy();
      return;
    }
    const upstream = createConnection({ path, allowHalfOpen: true });
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', (e) => {
      log(`service ${namespace}/${service}: ${e.message}`);
      client.destroy();
    });
    client.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port }, () => resolve(undefined));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(() => r(undefined)));
    },
  };
}
