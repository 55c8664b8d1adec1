// The phase tree of each command. Light: `--help` and `june-ts phases` render from here.
import type { Context } from '../context.js';
import { CLEANUP_ID, cleanupPhases } from './cleanup.js';
import { HEADSCALE_ID, headscaleServerPhase } from './headscale-server.js';
import { preflightPhase } from './preflight.js';
import { rotatePhases } from './rotate.js';
import { SIDECARS_ID, sidecarsPhase } from './sidecars.js';
import { tailnetHostPhase } from './tailnet-host.js';
import { buildTree, type Phase } from './workflow.js';

export type WorkflowName = 'install' | 'deploy-sidecars' | 'rotate-keys' | 'cleanup';

const upgrades = {
  headscale: { chart: 'headscale', phase: `${HEADSCALE_ID}/deploy` },
  platform: { chart: 'platform', phase: `${SIDECARS_ID}/helm` },
  sidecarsOff: { chart: 'platform', phase: `${CLEANUP_ID}/sidecars-off` },
} as const;

export const WORKFLOWS: Record<WorkflowName, Phase<Context>[]> = {
  install: buildTree([
    preflightPhase({ charts: ['headscale', 'platform'], releases: [upgrades.headscale, upgrades.platform] }),
    headscaleServerPhase,
    sidecarsPhase,
    tailnetHostPhase,
  ]),
  'deploy-sidecars': buildTree([preflightPhase({ charts: ['platform'], releases: [upgrades.platform] }), sidecarsPhase]),
  'rotate-keys': buildTree([preflightPhase({ charts: [] }), rotatePhases]),
  cleanup: buildTree([preflightPhase({ charts: ['platform'], releases: [upgrades.sidecarsOff] }), cleanupPhases]),
};
