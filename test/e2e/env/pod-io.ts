// How the environment's kubelet talks to what runs in a pod: tailscaled's LocalAPI, the pod
// agent (pod-agent.ts) on its unix socket, and the CRI-format log files `kubectl logs` reads.
import { appendFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { z } from 'zod';
import type { AppRequest, ProbeRequest } from './pod-agent.js';

/** `tailscale status --json`, the fields tests read (the rest stays unknown). */
export interface TailscaleStatus {
  BackendState: string;
  Self: { DNSName: string; Online: boolean; TailscaleIPs: string[]; [k: string]: unknown };
  MagicDNSSuffix?: string;
  Peer?: Record<string, { DNSName?: string; HostName?: string; Online?: boolean; TailscaleIPs?: string[]; [k: string]: unknown }>;
  [k: string]: unknown;
}
// the kubelet itself reads only BackendState; the rest is passed on to tests as tailscaled wrote it
const statusSchema = z.looseObject({ BackendState: z.string() });

/** tailscaled's LocalAPI status over its unix socket (what `tailscale status --json` reads). */
export function localStatus(socketPath: string, timeoutMs = 5000): Promise<TailscaleStatus> {
  return new Promise((resolve, reject) => {
    const req = request(
      { socketPath, path: '/localapi/v0/status', headers: { Host: 'local-tailscaled.sock' }, timeout: timeoutMs },
      (res) => {
        let s = '';
        res.on('data', (d) => (s += d));
        res.on('end', () => {
          try {
            if (res.statusCode !== 200) throw new Error(`LocalAPI status: HTTP ${res.statusCode}: ${s}`);
            resolve(statusSchema.parse(JSON.parse(s)) as TailscaleStatus);
          } catch (e) {
            reject(e);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('LocalAPI status timed out')));
    req.on('error', reject);
    req.end();
  });
}

/** The pod agent's answer: a probe's outcome, or whether an app stand-in started/stopped. */
export interface AgentReply {
  ok: boolean;
  message?: string;
}
const agentReplySchema = z.object({ ok: z.boolean(), message: z.string().optional() });

/** POST to the pod agent of the pod whose dir is podDir. */
export function agentCall(podDir: string, path: '/probe', body: ProbeRequest): Promise<AgentReply>;
export function agentCall(podDir: string, path: '/app', body: AppRequest | Pick<AppRequest, 'container' | 'action'>): Promise<AgentReply>;
export function agentCall(podDir: string, path: string, body: object): Promise<AgentReply> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: join(podDir, 'agent.sock'), path, method: 'POST', timeout: 15_000 }, (res) => {
      let s = '';
      res.on('data', (d) => (s += d));
      res.on('end', () => {
        try {
          resolve(agentReplySchema.parse(JSON.parse(s)));
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`pod agent ${path} timed out`)));
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

/** One CRI log line per output line (the format kwok's `kubectl logs` reads). */
export function criLogger(file: string): { stdout: (chunk: Buffer | string) => void; stderr: (chunk: Buffer | string) => void } {
  const write = (stream: 'stdout' | 'stderr') => {
    let partial = '';
    return (chunk: Buffer | string) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      if (lines.length) appendFileSync(file, lines.map((l) => `${new Date().toISOString()} ${stream} F ${l}\n`).join(''));
    };
  };
  return { stdout: write('stdout'), stderr: write('stderr') };
}
