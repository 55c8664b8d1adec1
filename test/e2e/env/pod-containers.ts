// Starting, restarting and reaping one container of a pod the environment's kubelet runs:
// the sidecar's containerboot or an image's program as a process in the pod's sandbox, any
// other container as a stand-in of the pod agent; exits become CrashLoopBackOff with
// back-off (or, for run-once pods, the pod's end), as on a node.
import { appendFileSync, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Container } from '@kubernetes/client-node';
import { containerEnv } from './container-env.js';
import { IMAGE_PATH, type KubeletContext } from './kubelet-context.js';
import type { SandboxProcess } from './netns.js';
import { writeConfigMapVolume } from './pod-setup.js';
import { agentCall, criLogger } from './pod-io.js';
import { containerOf, hasSidecar, type KubeletPod, type PodRecord } from './pod-record.js';
import { tail } from './util.js';

const BACKOFF_START_MS = 2000,
  BACKOFF_MAX_MS = 30_000;
const backoff = (restarts: number) => Math.min(BACKOFF_START_MS * 2 ** restarts, BACKOFF_MAX_MS);

/** The pod's sandbox; containers start only after createPodSandbox. */
function sandboxOf(rec: PodRecord) {
  if (!rec.sandbox) throw new Error(`${rec.id}: no sandbox`);
  return rec.sandbox;
}

/** The container's env cannot be built (a missing Secret or key): it waits, retried with back-off. */
function configError(log: KubeletContext['log'], rec: PodRecord, c: V1Container, error: string): void {
  const st = containerOf(rec, c.name);
  st.state = { waiting: { reason: 'CreateContainerConfigError', message: error } };
  st.failure = `CreateContainerConfigError: ${error}`;
  st.retryAt = Date.now() + backoff(st.configErrors++);
  log(`${rec.id}/${c.name}: CreateContainerConfigError: ${error}`);
}

export async function startContainer(ctx: KubeletContext, rec: PodRecord, pod: KubeletPod, c: V1Container): Promise<void> {
  const { log, src, tsBinDir } = ctx;
  const st = containerOf(rec, c.name);
  const runner = ctx.runnerOf(c);
  if (runner && 'pullError' in runner) {
    const pulls = st.pullErrors++;
    st.state = { waiting: { reason: pulls ? 'ImagePullBackOff' : 'ErrImagePull', message: runner.pullError } };
    st.failure = `ErrImagePull: ${runner.pullError}`;
    st.retryAt = Date.now() + backoff(pulls);
    log(`${rec.id}/${c.name}: ErrImagePull: ${runner.pullError}`);
    return;
  }
  // an image's program (runnerOf gives every container but the sidecar an image runner or none)
  if (runner && 'pathDirs' in runner) {
    const { env, error } = await containerEnv(pod, c, src);
    if (error) return configError(log, rec, c, error);
    for (const { v, dir: to } of rec.configMapVolumes.values()) await writeConfigMapVolume(ctx, pod, v, to);
    const procEnv = { ...env, HOSTNAME: pod.metadata.name, PATH: [...runner.pathDirs, IMAGE_PATH].join(':'), HOME: '/root' };
    const argv = [...(c.command ?? runner.entrypoint), ...(c.args ?? [])];
    const out = criLogger(st.logFile);
    const p = sandboxOf(rec).spawn(argv, { env: procEnv, stdout: 'pipe', stderr: 'pipe' });
    p.child.stdout?.on('data', out.stdout);
    p.child.stderr?.on('data', out.stderr);
    st.proc = p;
    void p.exited.then(({ code, signal }) => onExit(ctx, rec, c, p, code, signal));
  } else if (c.name === 'tailscale') {
    const { env, error } = await containerEnv(pod, c, src);
    rec.hostname = env.TS_HOSTNAME || pod.metadata.name;
    if (error) return configError(log, rec, c, error);
    const procEnv = {
      ...env,
      HOSTNAME: pod.metadata.name,
      PATH: `${tsBinDir}:${IMAGE_PATH}`,
      HOME: '/root',
      // Headscale's embedded DERP is served over plain HTTP; clients dial DERP with TLS unless told
      TS_DEBUG_USE_DERP_HTTP: '1',
    };
    const out = criLogger(st.logFile);
    const p = sandboxOf(rec).spawn([join(tsBinDir, 'containerboot')], { env: procEnv, stdout: 'pipe', stderr: 'pipe' });
    p.child.stdout?.on('data', out.stdout);
    p.child.stderr?.on('data', out.stderr);
    st.proc = p;
    void p.exited.then(({ code, signal }) => onExit(ctx, rec, c, p, code, signal));
  } else {
    const ports = (c.ports ?? []).filter((p) => (p.protocol ?? 'TCP') === 'TCP').map((p) => p.containerPort);
    const r = await agentCall(rec.dir, '/app', { container: c.name, ports, action: 'start' });
    if (!r.ok) throw new Error(`stand-in ${c.name}: ${r.message}`);
    appendFileSync(
      st.logFile,
      `${new Date().toISOString()} stdout F e2e stand-in for ${c.name} serving ${ports.join(', ') || 'no ports'}\n`,
    );
  }
  st.state = { running: { startedAt: new Date() } };
  st.started = Date.now();
  st.failure = undefined;
  st.joined = false;
  st.probe = { startup: { ok: 0, fail: 0, last: 0 }, readiness: { ok: 0, fail: 0, last: 0 }, liveness: { ok: 0, fail: 0, last: 0 } };
  // startupProbe only for the programs of images (the sidecar's timing stays as it was measured)
  st.startupDone = !(runner && c.name !== 'tailscale' && c.startupProbe);
  st.ready = !c.readinessProbe && st.startupDone;
  log(`${rec.id}/${c.name}: started (restart ${st.restartCount})`);
}

function onExit(
  ctx: KubeletContext,
  rec: PodRecord,
  c: V1Container,
  p: SandboxProcess,
  code: number | null,
  signal: NodeJS.Signals | null,
): void {
  const { log } = ctx;
  const st = containerOf(rec, c.name);
  if (st.proc !== p || rec.terminating) return;
  st.proc = undefined;
  // containerboot's own last words ("boot: …") say why; tailscaled's shutdown lines do not
  const lines = tail(st.logFile, 200)
    .split('\n')
    .map((l) => l.replace(/^\S+ std(out|err) [PF] /, ''));
  const why = lines
    .filter(
      (l) => /backend error|invalid|expired|forbidden|missing .* permission|not found|FTL|fatal/i.test(l) && !l.includes('bootstrapDNS'),
    )
    .slice(-2);
  const lastLines =
    [...why, ...lines.filter((l) => l.startsWith('boot: ')).slice(-1)].join(' | ').trim() || lines.filter(Boolean).slice(-2).join(' | ');
  const terminated = {
    exitCode: code ?? 137,
    signal: undefined,
    reason: code === 0 ? 'Completed' : 'Error',
    finishedAt: new Date(),
    startedAt: st.state.running?.startedAt,
  };
  st.lastState = { terminated };
  st.ready = false;
  st.exits++;
  st.failure = `container ${c.name} exited (${code ?? signal})${lastLines ? `: ${lastLines}` : ''}`;
  // run-once pods (restartPolicy Never/OnFailure) end Succeeded/Failed; a pod with a sidecar
  // keeps the back-off restarts its tests were written against
  if (!hasSidecar(rec) && (rec.restartPolicy === 'Never' || (rec.restartPolicy === 'OnFailure' && code === 0))) {
    st.state = { terminated };
    st.lastState = undefined;
    if (code === 0) st.failure = undefined;
    st.done = true;
    const all = [...rec.containers.values()];
    if (all.every((x) => x.done)) rec.phase = all.every((x) => x.state.terminated?.exitCode === 0) ? 'Succeeded' : 'Failed';
    log(`${rec.id}/${c.name}: exited ${code ?? signal} (restartPolicy ${rec.restartPolicy})${rec.phase ? `; pod ${rec.phase}` : ''}`);
    rec.dirty = true;
    return;
  }
  st.retryAt = Date.now() + backoff(st.exits - 1);
  st.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting failed container ${c.name} in pod ${rec.pod}` } };
  log(`${rec.id}/${c.name}: exited ${code ?? signal}; restart in ${st.retryAt - Date.now()}ms`);
  rec.dirty = true;
}

export async function restartContainer(ctx: KubeletContext, rec: PodRecord, pod: KubeletPod, c: V1Container, why: string): Promise<void> {
  const st = containerOf(rec, c.name);
  ctx.log(`${rec.id}/${c.name}: restart (${why})`);
  if (ctx.runnerOf(c)) {
    const p = st.proc;
    st.proc = undefined;
    await p?.stop(5000);
  } else {
    await agentCall(rec.dir, '/app', { container: c.name, action: 'stop' });
  }
  st.lastState = { terminated: { exitCode: 137, reason: 'Error', finishedAt: new Date(), startedAt: st.state.running?.startedAt } };
  st.restartCount++;
  if (existsSync(st.logFile)) renameSync(st.logFile, st.previousLogFile);
  await startContainer(ctx, rec, pod, c);
}
