// What the resource modules (deployments.ts, pods.ts, secrets.ts) reach the API server through: the
// client-node APIs, the write gate, and the client's retried calls and error mapping.
import type * as k8s from '@kubernetes/client-node';
import type { WriteGate } from '../write-gate.js';

export interface KubeApi {
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  objects: k8s.KubernetesObjectApi;
  gate: WriteGate;
  /** Field manager of every write (server-side apply owner). */
  fieldManager: string;
  call<T>(what: string, fn: () => Promise<T>): Promise<T>;
  fail(action: string, e: unknown): never;
}
