// tailscale.extraArgs against a node's prefs, and Pod Security against the sidecar's mode:
// the pure rules doctor builds on.
import { describe, expect, it } from 'vitest';
import { chartExtraArgs, extraArgsDrift, podExtraArgs } from '../../src/domain/extra-args.js';
import { sidecarKernelMode, sidecarPodSecurity } from '../../src/domain/pod-security.js';
import type { NodePrefs } from '../../src/tailscale/schemas.js';

const node = (p: Partial<NodePrefs> = {}): NodePrefs => ({ AdvertiseTags: [], AdvertiseRoutes: [], ...p });

describe('extraArgs against the node', () => {
  it('reads the chart values and the rendered TS_EXTRA_ARGS (without the --login-server the chart adds)', () => {
    expect(chartExtraArgs(null)).toEqual([]);
    expect(chartExtraArgs({ tailscale: { enabled: true } })).toEqual([]);
    expect(chartExtraArgs({ tailscale: { extraArgs: ['--shields-up', '--accept-routes'] } })).toEqual(['--shields-up', '--accept-routes']);
    expect(podExtraArgs('--login-server=http://hs:8080 --shields-up  --accept-routes')).toEqual(['--shields-up', '--accept-routes']);
    expect(podExtraArgs('--login-server=http://hs:8080')).toEqual([]);
  });

  it.each([
    [['--shields-up'], node({ ShieldsUp: true }), []],
    [['--shields-up'], node(), ['--shields-up (node: ShieldsUp=false)']],
    [['--shields-up=false'], node({ ShieldsUp: true }), ['--shields-up=false (node: ShieldsUp=true)']],
    [['--accept-routes'], node(), ['--accept-routes (node: RouteAll=false)']],
    [['--ssh'], node({ RunSSH: true }), []],
    [['--advertise-tags=tag:a,tag:b'], node({ AdvertiseTags: ['tag:b', 'tag:a'] }), []],
    [['--advertise-tags=tag:a'], node({ AdvertiseTags: ['tag:b'] }), ['--advertise-tags=tag:a (node: AdvertiseTags=[tag:b])']],
    [['--advertise-routes=10.0.0.0/8'], node({ AdvertiseRoutes: ['10.0.0.0/8', '0.0.0.0/0', '::/0'] }), []],
    [['--advertise-exit-node'], node({ AdvertiseRoutes: ['10.0.0.0/8'] }), ['--advertise-exit-node (node: exit node not advertised)']],
    [['--snat-subnet-routes=false'], node({ NoSNAT: true }), []],
    [['--exit-node=100.64.0.9'], node(), ['--exit-node=100.64.0.9 (node: ExitNodeIP=(none))']],
    [['--hostname=other'], node({ Hostname: 'june-idp' }), ['--hostname=other (node: Hostname=june-idp)']],
  ] as const)('%j on a node with %j differs in %j', (args, prefs, differing) => {
    expect(extraArgsDrift(args, prefs)).toEqual({ differing, unchecked: [] });
  });

  it('flags without a known pref are listed as not compared, never as a mismatch', () => {
    expect(extraArgsDrift(['--netfilter-mode=off', 'tag:x', '--shields-up'], node({ ShieldsUp: true }))).toEqual({
      differing: [],
      unchecked: ['--netfilter-mode=off', 'tag:x'],
    });
  });
});

describe('Pod Security against the sidecar mode', () => {
  it('kernel mode comes only from tailscale.userspace=false', () => {
    expect(sidecarKernelMode({})).toBe(false);
    expect(sidecarKernelMode({ tailscale: { userspace: true } })).toBe(false);
    expect(sidecarKernelMode({ tailscale: { userspace: false } })).toBe(true);
  });

  it.each([
    ['restricted', true, false],
    ['baseline', true, false],
    ['privileged', true, true],
    [undefined, true, true],
    ['restricted', false, true],
    ['baseline', false, true],
  ] as const)('enforce=%s, kernel mode %s: admitted %s', (level, kernel, admitted) => {
    const labels: Record<string, string> = level ? { 'pod-security.kubernetes.io/enforce': level } : {};
    expect(sidecarPodSecurity('june-services', labels, kernel).ok).toBe(admitted);
  });

  it('a refusal names the namespace, the label, the mode and both fixes', () => {
    const v = sidecarPodSecurity('june-services', { 'pod-security.kubernetes.io/enforce': 'restricted' }, true);
    expect(v.ok).toBe(false);
    expect(v.detail).toBe(
      'namespace june-services enforces Pod Security "restricted" (label pod-security.kubernetes.io/enforce=restricted) and the sidecars would run in kernel mode (tailscale.userspace=false), ' +
        'as root with NET_ADMIN and NET_RAW: the API server refuses their pods (only "privileged" admits them), so no pod of a service would start',
    );
    expect(!v.ok && v.fix).toBe(
      'keep tailscale.userspace=true (the default; it passes "restricted"), or, if the sidecars must run in kernel mode, ' +
        'kubectl label namespace june-services pod-security.kubernetes.io/enforce=privileged --overwrite (and set tailscale.allowKernelMode=true)',
    );
  });

  it('a namespace that does not exist yet is fine: install creates it without labels', () => {
    expect(sidecarPodSecurity('june-services', null, true)).toMatchObject({ ok: true });
  });
});
