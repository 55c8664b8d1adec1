// The one logger. Progress goes to stderr, results (plans, status) to stdout, so
// `--output json` stays machine-readable. Everything passes through redact().
import chalk, { Chalk, type ChalkInstance } from 'chalk';
import { redact } from './redact.js';

export type Verbosity = 'quiet' | 'normal' | 'verbose';

export interface LoggerOptions {
  verbosity?: Verbosity;
  color?: boolean;
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  stderr?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Show the run's steps as a live checklist on stderr (a terminal, not CI, normal verbosity). */
  live?: boolean;
}

/** The live view of a running step, while one is shown (src/ui/progress.ts). */
export interface LiveSink {
  /** What the running step waits on now. */
  waiting(text: string): void;
  /** A line of log output, printed above the live line. */
  write(text: string): void;
}

export class Logger {
  readonly c: ChalkInstance;
  readonly verbosity: Verbosity;
  private readonly out: NodeJS.WritableStream & { isTTY?: boolean };
  readonly err: NodeJS.WritableStream & { isTTY?: boolean };
  readonly live: boolean;
  private sink: LiveSink | undefined;
  private lastWaiting: string | undefined;

  constructor(options: LoggerOptions = {}) {
    this.out = options.stdout ?? process.stdout;
    this.err = options.stderr ?? process.stderr;
    this.verbosity = options.verbosity ?? 'normal';
    this.live = options.live ?? false;
    const color = options.color ?? (!('NO_COLOR' in process.env) && Boolean(this.err.isTTY));
    this.c = color ? new Chalk({ level: chalk.level || 1 }) : new Chalk({ level: 0 });
  }

  /** Result output (plans, tables, JSON) to stdout. */
  print(text: string): void {
    this.out.write(`${redact(text)}\n`);
  }

  info(text: string): void {
    if (this.verbosity !== 'quiet') this.toErr(`${redact(text)}\n`);
  }

  success(text: string): void {
    this.info(`${this.c.green('✓')} ${text}`);
  }

  warn(text: string): void {
    this.toErr(`${this.c.yellow('warning:')} ${redact(text)}\n`);
  }

  error(text: string): void {
    this.toErr(`${this.c.red('error:')} ${redact(text)}\n`);
  }

  /** Only with --verbose: each command run, redacted. */
  debug(text: string): void {
    if (this.verbosity === 'verbose') this.toErr(`${this.c.dim(redact(text))}\n`);
  }

  /**
   * What the running step waits on now, e.g. `june-idp 0/1 ready`. A live view shows it next
   * to the spinner; plain output prints it only with --verbose.
   */
  waiting(text: string): void {
    if (this.sink) this.sink.waiting(redact(text));
    else if (text !== this.lastWaiting) this.debug(`  waiting: ${text}`); // polls repeat themselves
    this.lastWaiting = text;
  }

  /** While a live view is attached, log lines go through it (above its live line). */
  attach(sink: LiveSink | undefined): void {
    this.sink = sink;
  }

  private toErr(text: string): void {
    if (this.sink) this.sink.write(text);
    else this.err.write(text);
  }
}
