// Rendered pods against Pod Security "restricted" (pod-security.ts mirrors its checks).
import { beforeAll, describe, expect, it } from 'vitest';
import {
  HEADSCALE_CHART,
  HELMS,
  PLATFORM_CHART,
  ofKind,
  parseManifests,
  requireBin,
  shouldSkip,
  template,
  type RenderOptions,
} from './helm.js';
import { podSecurityViolations, type Level } from './pod-security.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Pod = any;

const ON = { valuesFiles: ['values-headscale.yaml'] } satisfies RenderOptions;

const compliant = (): Pod => ({
  securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
  containers: [{ name: 'app', securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } } }],
  volumes: [{ name: 'tmp', emptyDir: {} }],
});

describe('pod-security checker', () => {
  it('passes a minimal restricted pod', () => {
    expect(podSecurityViolations(compliant(), 'restricted')).toEqual([]);
  });

  it.each([
    [
      'hostNetwork',
      (p) => {
        p.hostNetwork = true;
      },
      'baseline',
      /hostNetwork/,
    ],
    [
      'hostPID',
      (p) => {
        p.hostPID = true;
      },
      'baseline',
      /hostPID/,
    ],
    [
      'hostPath volume',
      (p) => {
        p.volumes.push({ name: 'h', hostPath: { path: '/' } });
      },
      'baseline',
      /hostPath/,
    ],
    [
      'privileged',
      (p) => {
        p.containers[0].securityContext.privileged = true;
      },
      'baseline',
      /privileged/,
    ],
    [
      'NET_ADMIN',
      (p) => {
        p.containers[0].securityContext.capabilities.add = ['NET_ADMIN'];
      },
      'baseline',
      /NET_ADMIN/,
    ],
    [
      'hostPort',
      (p) => {
        p.containers[0].ports = [{ containerPort: 80, hostPort: 80 }];
      },
      'baseline',
      /hostPort/,
    ],
    [
      'unsafe sysctl',
      (p) => {
        p.securityContext.sysctls = [{ name: 'net.core.somaxconn', value: '1' }];
      },
      'baseline',
      /sysctl/,
    ],
    [
      'pod seccomp Unconfined',
      (p) => {
        p.securityContext.seccompProfile = { type: 'Unconfined' };
      },
      'baseline',
      /Unconfined/,
    ],
    [
      'nfs volume',
      (p) => {
        p.volumes.push({ name: 'n', nfs: { server: 'x', path: '/' } });
      },
      'restricted',
      /type nfs/,
    ],
    [
      'no allowPrivilegeEscalation',
      (p) => {
        delete p.containers[0].securityContext.allowPrivilegeEscalation;
      },
      'restricted',
      /allowPrivilegeEscalation/,
    ],
    [
      'no runAsNonRoot',
      (p) => {
        delete p.securityContext.runAsNonRoot;
      },
      'restricted',
      /runAsNonRoot/,
    ],
    [
      'container runAsNonRoot false',
      (p) => {
        p.containers[0].securityContext.runAsNonRoot = false;
      },
      'restricted',
      /runAsNonRoot/,
    ],
    [
      'runAsUser 0',
      (p) => {
        p.containers[0].securityContext.runAsUser = 0;
      },
      'restricted',
      /runAsUser=0/,
    ],
    [
      'no seccomp',
      (p) => {
        delete p.securityContext.seccompProfile;
      },
      'restricted',
      /seccompProfile/,
    ],
    [
      'no drop ALL',
      (p) => {
        p.containers[0].securityContext.capabilities = {};
      },
      'restricted',
      /drop ALL/,
    ],
    [
      'adds CHOWN',
      (p) => {
        p.containers[0].securityContext.capabilities.add = ['CHOWN'];
      },
      'restricted',
      /CHOWN/,
    ],
    [
      'an init container',
      (p) => {
        p.initContainers = [{ name: 'init' }];
      },
      'restricted',
      /initContainer init/,
    ],
  ] as Array<[string, (p: Pod) => void, Level, RegExp]>)('refuses %s', (_label, mutate, level, message) => {
    const pod = compliant();
    mutate(pod);
    const found = podSecurityViolations(pod, level);
    expect(found.join('\n')).toMatch(message);
    if (level === 'restricted') expect(podSecurityViolations(pod, 'baseline')).toEqual([]);
  });
});

const restrictedRenders: Array<[string, string, RenderOptions]> = [
  ['june-platform, sidecars off', PLATFORM_CHART, { set: { 'services.stt.enabled': true, 'services.tts.enabled': true } }],
  ['june-platform, sidecars on', PLATFORM_CHART, ON],
  [
    'june-platform, sidecars on, stt+tts, proxy',
    PLATFORM_CHART,
    { ...ON, set: { 'services.stt.enabled': true, 'services.tts.enabled': true, 'tailscale.proxy.enabled': true } },
  ],
  ['june-platform, sidecars on, ephemeral state', PLATFORM_CHART, { ...ON, set: { 'tailscale.state.persist': false } }],
  ['june-platform, sidecars on, plain sidecar container', PLATFORM_CHART, { ...ON, set: { 'tailscale.nativeSidecar': false } }],
  ['headscale', HEADSCALE_CHART, {}],
  ['headscale, embedded DERP', HEADSCALE_CHART, { set: { 'headscale.derp.server.enabled': true } }],
];

function pods(stream: string) {
  return ofKind(parseManifests(stream), 'Deployment').map((d) => ({ name: d.metadata.name as string, pod: d.spec.template.spec }));
}

for (const helm of HELMS) {
  describe.skipIf(shouldSkip(helm))(`${helm.flavour}: Pod Security of the rendered pods`, () => {
    beforeAll(() => {
      requireBin(helm);
    });

    it.each(restrictedRenders)('%s: every pod passes "restricted"', async (_label, chart, opts) => {
      const found = pods(await template(helm, chart, opts));
      expect(found.length).toBeGreaterThan(0);
      for (const { name, pod } of found) expect(podSecurityViolations(pod, 'restricted'), name).toEqual([]);
    });

    it('kernel mode (allowKernelMode) fails "baseline" in the tailscale container only', async () => {
      const found = pods(
        await template(helm, PLATFORM_CHART, { ...ON, set: { 'tailscale.userspace': false, 'tailscale.allowKernelMode': true } }),
      );
      for (const { pod } of found) {
        const violations = podSecurityViolations(pod, 'baseline');
        expect(violations).toEqual([
          'initContainer tailscale: adds capability NET_ADMIN',
          'initContainer tailscale: adds capability NET_RAW',
        ]);
      }
    });
  });
}
