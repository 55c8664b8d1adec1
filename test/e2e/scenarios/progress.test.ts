// What an operator sees on a terminal, against the real environment: `june-ts deploy-sidecars`
// in a pseudo-terminal shows the running step with a spinner, what it waits for (the real
// rollout of pods whose sidecars must join) and a changing elapsed time, and leaves a ✓ line
// with its duration per step; the same kind of run piped prints plain lines only.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { canRun, startScenario, type Scenario } from './harness.js';

// eslint-disable-next-line no-control-regex -- terminal output
const ESC = /\u001b/;

describe.skipIf(!canRun)('progress on a terminal', () => {
  let s: Scenario;

  beforeAll(async () => {
    s = await startScenario('progress');
    const r = await s.june(['install', '--only', '11-headscale']);
    if (r.code !== 0) throw new Error(`install --only 11-headscale failed:\n${r.stderr}`);
  });
  afterAll(async () => {
    await s?.stop();
  });

  it('deploy-sidecars in a pty: spinner, the running step, what it waits for, elapsed time; a ✓ line per step', async () => {
    const r = await s.june(['deploy-sidecars'], { pty: true });
    expect(r.code, r.stdout).toBe(0);
    const screen = r.stdout;
    // live frames of the verify step while the real pods roll out and their sidecars join
    // eslint-disable-next-line no-control-regex -- a frame ends at the next escape sequence
    const frames = [...screen.matchAll(/[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] (11\.2-headscale-sidecars\/\w+) {2}waiting: ([^\u001b\r\n]*?) {2}(\d+\.\ds)/g)];
    expect(frames.length, screen).toBeGreaterThan(0);
    expect(frames.map((f) => f[2]).join('\n')).toMatch(/june-(orchestrator|idp).*(\d+\/\d+|not yet online|offline|Ready)/);
    expect(new Set(frames.map((f) => f[3])).size).toBeGreaterThanOrEqual(2);
    for (const step of ['users', 'keys', 'secret', 'helm', 'verify']) {
      expect(screen).toMatch(new RegExp(`✓ 11\\.2-headscale-sidecars/${step} {2}\\d+\\.\\ds`));
    }
  }, 240_000);

  it('the same command piped: one plain line per step, no escape sequences', async () => {
    const r = await s.june(['deploy-sidecars']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(ESC);
    expect(r.stderr).toMatch(/^✓ 11\.2-headscale-sidecars\/verify \(\d+\.\ds\)$/m);
  });
});
