// The phase tree of each command. Light: `--help` and `june-ts phases` render from here.
import type { Context } from '../context.js';
import { cleanupPhases } from './cleanup.js';
import { headscaleServerPhase } from './headscale-server.js';
import { preflightPhase } from './preflight.js';
import { rotatePhases } from './rotate.js';
import { sidecarsPhase } from './sidecars.js';
import { tailnetHostPhase } from './tailnet-host.js';
import { buildTree, type Phase } from './workflow.js';

export type WorkflowName = 'install' | 'deploy-sidecars' | 'rotate-keys' | 'cleanup';

export const WORKFLOWS: Record<WorkflowName, Phase<Context>[]> = {
  install: buildTree([preflightPhase({ charts: ['headscale', 'platform'] }), headscaleServerPhase, sidecarsPhase, tailnetHostPhase]),
  'deploy-sidecars': buildTree([preflightPhase({ charts: ['platform'] }), sidecarsPhase]),
  'rotate-keys': buildTree([preflightPhase({ charts: [] }), rotatePhases]),
  cleanup: buildTree([preflightPhase({ charts: ['platform'] }), cleanupPhases]),
};
