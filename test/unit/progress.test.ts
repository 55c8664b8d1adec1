// The live checklist over a fake terminal (a stream that says it is a TTY and a tiny screen
// model that applies what ora writes), the plain lines elsewhere, and which runs get which.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { makeLogger } from '../../src/commands/runtime.js';
import { globalOptionsSchema } from '../../src/commands/options.js';
import { waitForRollout } from '../../src/kube/rollout.js';
import { Logger } from '../../src/ui/logger.js';
import { createStepView, formatDuration, LiveSteps, PlainSteps } from '../../src/ui/progress.js';
import { fakeDeployment } from '../helpers/fake-seams.js';

// eslint-disable-next-line no-control-regex -- escape sequences are what these look for
const ESC = /\u001b/;

/** A terminal: records every write, and keeps the screen those writes produce. */
class FakeTty extends Writable {
  readonly isTTY = true;
  readonly columns = 120;
  readonly writes: string[] = [];
  /** The cursor's line after each write. */
  readonly frames: string[] = [];
  private lines: string[] = [''];
  private row = 0;
  private col = 0;

  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    const text = chunk.toString();
    this.writes.push(text);
    this.apply(text);
    this.frames.push(this.currentLine());
    done();
  }
  cursorTo(x: number): boolean {
    return this.write(`\u001b[${x + 1}G`);
  }
  moveCursor(_dx: number, dy: number): boolean {
    return this.write(dy < 0 ? `\u001b[${-dy}A` : '');
  }
  clearLine(): boolean {
    return this.write('\u001b[K');
  }
  private apply(text: string): void {
    // eslint-disable-next-line no-control-regex -- the sequences ora and cli-cursor write
    for (const [, esc, ch] of text.matchAll(/(\u001b\[[?\d;]*[A-Za-z])|([\s\S])/g)) {
      if (esc) {
        const n = Number(/\d+/.exec(esc)?.[0] ?? 1);
        if (esc.endsWith('G')) this.col = n - 1;
        else if (esc.endsWith('A')) this.row = Math.max(0, this.row - n);
        else if (esc.endsWith('K')) this.lines[this.row] = this.lines[this.row]!.slice(0, this.col);
      } else if (ch === '\n') {
        this.row++;
        this.col = 0;
        this.lines[this.row] ??= '';
      } else {
        const line = this.lines[this.row]!.padEnd(this.col);
        this.lines[this.row] = line.slice(0, this.col) + ch + line.slice(this.col + 1);
        this.col++;
      }
    }
  }
  /** The screen, without trailing blank lines. */
  screen(): string[] {
    const out = this.lines.map((l) => l.trimEnd());
    while (out.length && !out.at(-1)) out.pop();
    return out;
  }
  currentLine(): string {
    return this.lines[this.row]!.trimEnd();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('live checklist on a terminal', () => {
  it('shows the running step, what it waits for and a changing elapsed time; finished steps stay as ✓ lines with durations', async () => {
    const tty = new FakeTty();
    const log = new Logger({ stderr: tty, stdout: new FakeTty(), live: true, color: false });
    let clock = 0;
    const view = await createStepView(log, { tickMs: 10, now: () => clock });
    expect(view).toBeInstanceOf(LiveSteps);
    view.start('11-headscale/deploy', 'helm upgrade --install the Headscale chart and wait for the rollout');
    await sleep(30);
    log.waiting('headscale 0/1 ready');
    clock = 1500;
    await sleep(40);
    clock = 3200;
    await sleep(40);
    log.info('  release headscale installed');
    await sleep(20);
    view.done('11-headscale/deploy', 3200);
    view.skipped('11.2-headscale-sidecars', '--skip 11.2-headscale-sidecars');
    clock = 0;
    view.start('11.5-tailnet-host', 'Join this host to the tailnet');
    log.waiting('june-idp: node june-idp (id 2) is offline');
    clock = 61_000;
    await sleep(40);
    view.failed('11.5-tailnet-host', 61_000);
    view.stop();

    const live = tty.frames.filter((f) => /^[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] /.test(f));
    expect(live).toContain(
      '⠋ 11-headscale/deploy  helm upgrade --install the Headscale chart and wait for the rollout  0.0s'.replace('⠋', live[0]![0]!),
    );
    const waits = live.filter((f) => f.includes('11-headscale/deploy  waiting: headscale 0/1 ready'));
    expect(new Set(waits.map((f) => f.split('  ').at(-1)))).toEqual(new Set(['0.0s', '1.5s', '3.2s']));
    expect(live.some((f) => f.endsWith('11.5-tailnet-host  waiting: june-idp: node june-idp (id 2) is offline  1m01s'))).toBe(true);
    expect(new Set(live.map((f) => f[0])).size).toBeGreaterThan(1); // the spinner turns

    expect(tty.screen()).toEqual([
      '  release headscale installed',
      '✓ 11-headscale/deploy  3.2s',
      '○ 11.2-headscale-sidecars skipped: --skip 11.2-headscale-sidecars',
      '✗ 11.5-tailnet-host  1m01s',
    ]);
    const all = tty.writes.join('');
    expect(all).toContain('\u001b[?25l');
    expect(all.lastIndexOf('\u001b[?25h')).toBeGreaterThan(all.lastIndexOf('\u001b[?25l'));
  });

  it('stopped mid-step (an error or Ctrl-C): the live line is cleared and the cursor shown again', async () => {
    const tty = new FakeTty();
    const log = new Logger({ stderr: tty, live: true, color: false });
    const view = await createStepView(log, { tickMs: 10 });
    view.start('preflight', 'Check charts, helm, kubectl and cluster access');
    log.waiting('cluster');
    await sleep(30);
    view.stop();
    expect(tty.screen()).toEqual([]);
    expect(tty.writes.join('').endsWith('\u001b[?25h')).toBe(true);
    log.info('after'); // no longer through the view
    expect(tty.screen()).toEqual(['after']);
  });
});

describe('plain lines elsewhere', () => {
  it('one line per finished or skipped step, no control characters, waits only with --verbose', async () => {
    for (const verbosity of ['normal', 'verbose'] as const) {
      const out = new FakeTty();
      Object.defineProperty(out, 'isTTY', { value: false });
      const log = new Logger({ stderr: out, verbosity, color: false });
      const view = await createStepView(log);
      expect(view).toBeInstanceOf(PlainSteps);
      view.start('11-headscale/deploy', 'helm upgrade');
      log.waiting('headscale 0/1 ready');
      log.waiting('headscale 0/1 ready');
      view.done('11-headscale/deploy', 3200);
      view.skipped('11.5-tailnet-host', '--skip 11.5-tailnet-host');
      view.failed('cleanup/nodes', 61_000);
      view.stop();
      const text = out.writes.join('');
      expect(text).not.toMatch(ESC);
      const steps = ['✓ 11-headscale/deploy (3.2s)', '○ 11.5-tailnet-host skipped: --skip 11.5-tailnet-host', '✗ cleanup/nodes (1m01s)'];
      expect(text.trimEnd().split('\n')).toEqual(
        verbosity === 'normal' ? steps : ['▶ 11-headscale/deploy  helm upgrade', '  waiting: headscale 0/1 ready', ...steps],
      );
    }
  });

  it('the live view only on a terminal, outside CI, at normal verbosity, not for a dry run or JSON', () => {
    const tty = new FakeTty();
    const pipe = Object.assign(new FakeTty(), { isTTY: false });
    const live = (flags: Record<string, unknown>, env: NodeJS.ProcessEnv = {}, stderr: FakeTty = tty) =>
      makeLogger(globalOptionsSchema.parse(flags), { stderr, env }).live;
    expect(live({})).toBe(true);
    expect(live({}, {}, pipe)).toBe(false);
    expect(live({}, { CI: 'true' })).toBe(false);
    expect(live({}, { TERM: 'dumb' })).toBe(false);
    expect(live({ quiet: true })).toBe(false);
    expect(live({ verbose: true })).toBe(false);
    expect(live({ output: 'json' })).toBe(false);
    expect(live({ dryRun: true })).toBe(false);
  });

  it('a terminal without a size (0 columns) gets plain lines', async () => {
    const sizeless = Object.assign(new FakeTty(), { columns: 0 });
    expect(await createStepView(new Logger({ stderr: sizeless, live: true, color: false }))).toBeInstanceOf(PlainSteps);
  });

  it('durations', () => {
    expect([0, 950, 59_949, 60_000, 61_000, 605_000].map(formatDuration)).toEqual(['0.0s', '0.9s', '59.9s', '1m00s', '1m01s', '10m05s']);
  });
});

describe('what a rollout waits for', () => {
  it('reports the Deployments not yet rolled out, each poll', async () => {
    const d = (name: string, ready: number, updated = 1) =>
      fakeDeployment(name, { readyReplicas: ready, updatedReplicas: updated, availableReplicas: ready, containers: [], podLabels: {} });
    const polls = [
      { 'june-idp': null, 'june-orchestrator': d('june-orchestrator', 0, 0) },
      { 'june-idp': d('june-idp', 0), 'june-orchestrator': d('june-orchestrator', 1) },
      { 'june-idp': d('june-idp', 1), 'june-orchestrator': d('june-orchestrator', 1) },
    ];
    let poll = -1;
    const seen: string[] = [];
    await waitForRollout(
      async (_ns, names) => {
        poll++;
        return names.map((name) => polls[poll]![name as 'june-idp']);
      },
      'june-services',
      ['june-idp', 'june-orchestrator'],
      10_000,
      undefined,
      (text) => seen.push(text),
    );
    expect(seen).toEqual(['june-idp not created yet, june-orchestrator 0/1 updated', 'june-idp 0/1 ready']);
  }, 10_000);
});
