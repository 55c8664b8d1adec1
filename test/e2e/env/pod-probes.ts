// A container's startup, readiness and liveness probes with the kubelet's defaults, run inside
// the pod (httpGet and tcpSocket by the pod agent, exec in the sandbox).
import type { V1Container, V1Probe } from '@kubernetes/client-node';
import { IMAGE_PATH, type KubeletContext } from './kubelet-context.js';
import { agentCall, type AgentReply } from './pod-io.js';
import { containerOf, type ProbeKind, type PodRecord } from './pod-record.js';
import { errText } from './util.js';

function resolvePort(c: V1Container, port: number | string): number | undefined {
  if (typeof port === 'number' || /^\d+$/.test(String(port))) return Number(port);
  return c.ports?.find((p) => p.name === port)?.containerPort;
}

async function runProbe(ctx: KubeletContext, rec: PodRecord, c: V1Container, probe: V1Probe): Promise<AgentReply> {
  const timeoutMs = (probe.timeoutSeconds ?? 1) * 1000;
  if (probe.httpGet) {
    const port = resolvePort(c, probe.httpGet.port);
    if (!port) return { ok: false, message: `no port ${probe.httpGet.port}` };
    const headers = Object.fromEntries((probe.httpGet.httpHeaders ?? []).map((h) => [h.name, h.value]));
    return agentCall(rec.dir, '/probe', { type: 'http', port, path: probe.httpGet.path ?? '/', headers, timeoutMs });
  }
  if (probe.tcpSocket) {
    const port = resolvePort(c, probe.tcpSocket.port);
    if (!port) return { ok: false, message: `no port ${probe.tcpSocket.port}` };
    return agentCall(rec.dir, '/probe', { type: 'tcp', port, timeoutMs });
  }
  if (probe.exec) {
    // probes run only for running containers, which have a sandbox
    const r = await rec.sandbox!.exec(probe.exec.command ?? [], { env: { PATH: `${ctx.tsBinDir}:${IMAGE_PATH}` }, timeoutMs });
    return { ok: r.code === 0, message: `exit ${r.code}${r.timedOut ? ' (timeout)' : ''}` };
  }
  return { ok: true, message: 'no handler' };
}

const PROBES: ReadonlyArray<[ProbeKind, 'startupProbe' | 'readinessProbe' | 'livenessProbe']> = [
  ['startup', 'startupProbe'],
  ['readiness', 'readinessProbe'],
  ['liveness', 'livenessProbe'],
];

/** One probe tick for container c: returns why to restart it when its startup or liveness probe gave up. */
export async function probeContainer(ctx: KubeletContext, rec: PodRecord, c: V1Container): Promise<string | undefined> {
  const st = containerOf(rec, c.name);
  if (!st.state.running) return undefined;
  const now = Date.now();
  for (const [kind, field] of PROBES) {
    const probe = c[field];
    if (!probe || (kind === 'startup') === st.startupDone) continue;
    // startContainer set every kind's state when it started the container
    const ps = st.probe[kind]!;
    if (now - (st.started ?? 0) < (probe.initialDelaySeconds ?? 0) * 1000) continue;
    if (ps.last && now - ps.last < (probe.periodSeconds ?? 10) * 1000) continue;
    ps.last = now;
    const r = await runProbe(ctx, rec, c, probe).catch((e: unknown): AgentReply => ({ ok: false, message: errText(e) }));
    if (r.ok) {
      ps.ok++;
      ps.fail = 0;
    } else {
      ps.fail++;
      ps.ok = 0;
      ps.message = r.message;
    }
    if (kind === 'startup') {
      if (r.ok) {
        st.startupDone = true;
        st.ready = !c.readinessProbe;
        ctx.log(`${rec.id}/${c.name}: startup probe passed`);
      } else if (ps.fail >= (probe.failureThreshold ?? 3)) {
        return `startup probe failed: ${r.message}`;
      }
    } else if (kind === 'readiness') {
      if (r.ok && ps.ok >= (probe.successThreshold ?? 1)) st.ready = true;
      if (!r.ok && ps.fail >= (probe.failureThreshold ?? 3)) st.ready = false;
    } else if (!r.ok && ps.fail >= (probe.failureThreshold ?? 3)) {
      return `liveness probe failed: ${r.message}`;
    }
  }
  return undefined;
}
