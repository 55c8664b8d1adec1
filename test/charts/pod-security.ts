// The checks of Kubernetes Pod Security Standards, "baseline" and "restricted" (latest),
// over a rendered pod spec. A mirror for render-time tests; the real kube-apiserver's
// admission is what the end-to-end suite exercises.

/* eslint-disable @typescript-eslint/no-explicit-any */

const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
]);
const RESTRICTED_VOLUME_TYPES = new Set([
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
]);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
]);
const SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);

export type Level = 'baseline' | 'restricted';

function containersOf(pod: any): Array<{ kind: string; c: any }> {
  return [
    ...(pod.initContainers ?? []).map((c: any) => ({ kind: 'initContainer', c })),
    ...(pod.containers ?? []).map((c: any) => ({ kind: 'container', c })),
    ...(pod.ephemeralContainers ?? []).map((c: any) => ({ kind: 'ephemeralContainer', c })),
  ];
}

function baseline(pod: any): string[] {
  const v: string[] = [];
  const psc = pod.securityContext ?? {};
  for (const ns of ['hostNetwork', 'hostPID', 'hostIPC'] as const) if (pod[ns]) v.push(`${ns}=true`);
  for (const vol of pod.volumes ?? []) if (vol.hostPath) v.push(`volume ${vol.name}: hostPath`);
  for (const s of psc.sysctls ?? []) if (!SAFE_SYSCTLS.has(s.name)) v.push(`sysctl ${s.name}`);
  const seccompOk = (p: any) => !p || p.type !== 'Unconfined';
  if (!seccompOk(psc.seccompProfile)) v.push('pod seccompProfile Unconfined');
  const seLinuxOk = (o: any) => !o || (SELINUX_TYPES.has(o.type ?? '') && !o.user && !o.role);
  if (!seLinuxOk(psc.seLinuxOptions)) v.push('pod seLinuxOptions');
  const appArmorOk = (p: any) => !p || p.type !== 'Unconfined';
  if (!appArmorOk(psc.appArmorProfile)) v.push('pod appArmorProfile Unconfined');
  for (const { kind, c } of containersOf(pod)) {
    const sc = c.securityContext ?? {};
    const who = `${kind} ${c.name}`;
    if (sc.privileged) v.push(`${who}: privileged`);
    for (const cap of sc.capabilities?.add ?? []) if (!BASELINE_CAPABILITIES.has(cap)) v.push(`${who}: adds capability ${cap}`);
    for (const p of c.ports ?? []) if (p.hostPort) v.push(`${who}: hostPort ${p.hostPort}`);
    if (sc.procMount && sc.procMount !== 'Default') v.push(`${who}: procMount ${sc.procMount}`);
    if (!seccompOk(sc.seccompProfile)) v.push(`${who}: seccompProfile Unconfined`);
    if (!seLinuxOk(sc.seLinuxOptions)) v.push(`${who}: seLinuxOptions`);
    if (!appArmorOk(sc.appArmorProfile)) v.push(`${who}: appArmorProfile Unconfined`);
  }
  return v;
}

function restricted(pod: any): string[] {
  const v: string[] = [];
  const psc = pod.securityContext ?? {};
  for (const vol of pod.volumes ?? []) {
    const type = Object.keys(vol).find((k) => k !== 'name');
    if (!type || !RESTRICTED_VOLUME_TYPES.has(type)) v.push(`volume ${vol.name}: type ${type ?? '(none)'}`);
  }
  if (psc.runAsUser === 0) v.push('pod runAsUser=0');
  const podSeccomp = ['RuntimeDefault', 'Localhost'].includes(psc.seccompProfile?.type);
  for (const { kind, c } of containersOf(pod)) {
    const sc = c.securityContext ?? {};
    const who = `${kind} ${c.name}`;
    if (sc.allowPrivilegeEscalation !== false) v.push(`${who}: allowPrivilegeEscalation is not false`);
    const nonRoot = sc.runAsNonRoot ?? psc.runAsNonRoot;
    if (nonRoot !== true) v.push(`${who}: runAsNonRoot is not true`);
    if (sc.runAsUser === 0) v.push(`${who}: runAsUser=0`);
    const seccomp = sc.seccompProfile?.type;
    if (seccomp ? !['RuntimeDefault', 'Localhost'].includes(seccomp) : !podSeccomp)
      v.push(`${who}: seccompProfile is not RuntimeDefault or Localhost`);
    if (!(sc.capabilities?.drop ?? []).includes('ALL')) v.push(`${who}: capabilities do not drop ALL`);
    for (const cap of sc.capabilities?.add ?? []) if (cap !== 'NET_BIND_SERVICE') v.push(`${who}: adds capability ${cap} (restricted)`);
  }
  return v;
}

/** Every violation of the level (restricted includes baseline), as readable lines. */
export function podSecurityViolations(pod: any, level: Level): string[] {
  return level === 'baseline' ? baseline(pod) : [...baseline(pod), ...restricted(pod)];
}
