// The phase tree of each command, and the data its phases share. Light: `--help` and
// `june-ts phases` render from here.
import type { WorkflowRun } from '../context.js';
import { CLEANUP_ID, cleanupPhases, type CleanupData } from './cleanup.js';
import { buildTree, type Phase } from './engine.js';
import { HEADSCALE_ID, headscaleServerPhase, type HeadscaleServerData } from './headscale-server.js';
import { RESTORE_ID, restorePhases, type RestoreData } from './headscale-restore.js';
import { preflightPhase } from './preflight.js';
import { ROTATE_ID, rotatePhases, rotateReads, type RotateData } from './rotate.js';
import { SIDECARS_ID, sidecarsPhase, sidecarsReads, type SidecarsData } from './sidecars.js';
import { tailnetHostPhase, type TailnetHostData } from './tailnet-host.js';

export type WorkflowName = 'install' | 'deploy-sidecars' | 'rotate-keys' | 'cleanup' | 'restore';

/** The data each workflow's phases read and hand on; the command settles it before the run. */
export interface WorkflowData {
  install: SidecarsData & TailnetHostData & HeadscaleServerData;
  'deploy-sidecars': SidecarsData;
  'rotate-keys': RotateData;
  cleanup: CleanupData;
  restore: RestoreData;
}

const upgrades = {
  headscale: { chart: 'headscale', phase: `${HEADSCALE_ID}/deploy` },
  platform: { chart: 'platform', phase: `${SIDECARS_ID}/helm` },
  sidecarsOff: { chart: 'platform', phase: `${CLEANUP_ID}/sidecars-off` },
  restore: { chart: 'headscale', phase: `${RESTORE_ID}/start` },
} as const;

export const WORKFLOWS: { [W in WorkflowName]: Phase<WorkflowRun<WorkflowData[W]>>[] } = {
  install: buildTree<WorkflowRun<WorkflowData['install']>>([
    preflightPhase({
      charts: ['headscale', 'platform'],
      releases: [upgrades.headscale, upgrades.platform],
      sidecarsPhase: upgrades.platform.phase,
      namespaces: ['headscale', 'platform'],
      mintsKeys: `${SIDECARS_ID}/keys`,
    }),
    headscaleServerPhase,
    // ENABLE_TAILSCALE_SIDECARS=false only gates `install`: deploy-sidecars exists to add them.
    { ...sidecarsPhase, skipIf: (ctx) => (ctx.config.sidecarsEnabled ? undefined : 'ENABLE_TAILSCALE_SIDECARS=false') },
    tailnetHostPhase,
  ]),
  'deploy-sidecars': buildTree<WorkflowRun<WorkflowData['deploy-sidecars']>>([
    preflightPhase({
      charts: ['platform'],
      releases: [upgrades.platform],
      sidecarsPhase: upgrades.platform.phase,
      namespaces: ['platform'],
      headscaleServed: true,
      mintsKeys: `${SIDECARS_ID}/keys`,
      headscaleReads: sidecarsReads,
    }),
    sidecarsPhase,
  ]),
  'rotate-keys': buildTree<WorkflowRun<WorkflowData['rotate-keys']>>([
    preflightPhase({
      charts: [],
      namespaces: ['platform'],
      headscaleServed: true,
      mintsKeys: `${ROTATE_ID}/mint`,
      headscaleReads: rotateReads,
    }),
    rotatePhases,
  ]),
  cleanup: buildTree<WorkflowRun<WorkflowData['cleanup']>>([
    preflightPhase({ charts: ['platform'], releases: [upgrades.sidecarsOff] }),
    cleanupPhases,
  ]),
  restore: buildTree<WorkflowRun<WorkflowData['restore']>>([
    preflightPhase({ charts: ['headscale'], releases: [upgrades.restore], namespaces: ['headscale'] }),
    restorePhases,
  ]),
};
