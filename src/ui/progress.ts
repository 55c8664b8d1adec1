// How a run shows its steps. On a terminal: a live checklist on stderr, the running step with
// a spinner, what it waits on and its elapsed time, each finished step kept as a ✓/✗ line
// with its duration. Anywhere else (pipes, CI, -q, -o json): one plain line per step, no
// control characters. ora is loaded only for the live view.
import type { Ora } from 'ora';
import type { LiveSink, Logger } from './logger.js';

export interface StepView {
  start(id: string, description: string): void;
  done(id: string, ms: number): void;
  failed(id: string, ms: number): void;
  skipped(id: string, reason: string): void;
  /** Ends the view (also on errors and Ctrl-C): no spinner left, cursor shown. */
  stop(): void;
}

export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** One line per finished or skipped step; starts and waits only with --verbose. */
export class PlainSteps implements StepView {
  constructor(private readonly log: Logger) {}
  start(id: string, description: string): void {
    this.log.debug(`▶ ${id}  ${description}`);
  }
  done(id: string, ms: number): void {
    this.log.success(`${id} ${this.log.c.dim(`(${formatDuration(ms)})`)}`);
  }
  failed(id: string, ms: number): void {
    this.log.info(`${this.log.c.red('✗')} ${id} ${this.log.c.dim(`(${formatDuration(ms)})`)}`);
  }
  skipped(id: string, reason: string): void {
    this.log.info(this.log.c.dim(`○ ${id} skipped: ${reason}`));
  }
  stop(): void {}
}

export interface LiveOptions {
  /** How often the elapsed time is redrawn. */
  tickMs?: number;
  now?: () => number;
}

/** The live checklist over an ora spinner; log lines of the running step print above it. */
export class LiveSteps implements StepView, LiveSink {
  private current: { id: string; description: string; started: number; waiting?: string } | undefined;
  private timer: ReturnType<typeof setInterval> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly spinner: Ora,
    private readonly log: Logger,
    private readonly options: LiveOptions = {},
  ) {
    this.now = options.now ?? (() => performance.now());
    log.attach(this);
  }

  private text(): string {
    const c = this.log.c;
    const s = this.current!;
    const what = s.waiting ? `waiting: ${s.waiting}` : c.dim(s.description);
    return `${s.id}  ${what}  ${c.dim(formatDuration(this.now() - s.started))}`;
  }

  start(id: string, description: string): void {
    this.current = { id, description, started: this.now() };
    this.spinner.start(this.text());
    clearInterval(this.timer);
    this.timer = setInterval(() => this.redraw(), this.options.tickMs ?? 1000);
  }

  waiting(text: string): void {
    if (!this.current) return;
    this.current.waiting = text;
    this.redraw();
  }

  private redraw(): void {
    if (!this.current) return;
    this.spinner.text = this.text();
    this.spinner.render();
  }

  write(text: string): void {
    if (this.spinner.isSpinning) this.spinner.clear();
    this.log.err.write(text);
    if (this.spinner.isSpinning) this.spinner.render();
  }

  private finish(symbol: string, id: string, ms: number): void {
    clearInterval(this.timer);
    this.current = undefined;
    this.spinner.stopAndPersist({ symbol, text: `${id}  ${this.log.c.dim(formatDuration(ms))}` });
  }

  done(id: string, ms: number): void {
    this.finish(this.log.c.green('✓'), id, ms);
  }

  failed(id: string, ms: number): void {
    this.finish(this.log.c.red('✗'), id, ms);
  }

  skipped(id: string, reason: string): void {
    this.spinner.stopAndPersist({ symbol: this.log.c.dim('○'), text: this.log.c.dim(`${id} skipped: ${reason}`) });
  }

  stop(): void {
    clearInterval(this.timer);
    this.current = undefined;
    if (this.spinner.isSpinning) this.spinner.stop();
    this.log.attach(undefined);
  }
}

/** The view for this run: live on a terminal (Logger.live), plain otherwise. */
export async function createStepView(log: Logger, options: LiveOptions = {}): Promise<StepView> {
  // a terminal without a size (0 columns, e.g. a pty nobody sized) cannot hold a live line
  if (!log.live || !(log.err as { columns?: number }).columns) return new PlainSteps(log);
  const { default: ora } = await import('ora');
  const spinner = ora({
    stream: log.err,
    isEnabled: true,
    discardStdin: false,
    hideCursor: true,
    color: log.c.level > 0 ? 'cyan' : false,
  });
  return new LiveSteps(spinner, log, options);
}
