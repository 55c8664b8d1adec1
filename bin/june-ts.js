#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';
import { main } from '../dist/cli.js';

// june-ts mostly waits on the cluster and Headscale: V8's memory-over-speed heuristics keep
// its heap small (a smaller young generation, less eager optimisation) at no cost in time.
setFlagsFromString('--optimize-for-size');

// `june-ts --help | head`: a reader that stops early is not an error
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
