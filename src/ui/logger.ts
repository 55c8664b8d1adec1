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
}

export interface Spinner {
  succeed(text: string): void;
  fail(text: string): void;
  stop(): void;
}

export class Logger {
  readonly c: ChalkInstance;
  readonly verbosity: Verbosity;
  private readonly out: NodeJS.WritableStream & { isTTY?: boolean };
  private readonly err: NodeJS.WritableStream & { isTTY?: boolean };

  constructor(options: LoggerOptions = {}) {
    this.out = options.stdout ?? process.stdout;
    this.err = options.stderr ?? process.stderr;
    this.verbosity = options.verbosity ?? 'normal';
    const color = options.color ?? (!('NO_COLOR' in process.env) && Boolean(this.err.isTTY));
    this.c = color ? new Chalk({ level: chalk.level || 1 }) : new Chalk({ level: 0 });
  }

  /** Result output (plans, tables, JSON) to stdout. */
  print(text: string): void {
    this.out.write(`${redact(text)}\n`);
  }

  info(text: string): void {
    if (this.verbosity !== 'quiet') this.err.write(`${redact(text)}\n`);
  }

  success(text: string): void {
    this.info(`${this.c.green('✓')} ${text}`);
  }

  warn(text: string): void {
    this.err.write(`${this.c.yellow('warning:')} ${redact(text)}\n`);
  }

  error(text: string): void {
    this.err.write(`${this.c.red('error:')} ${redact(text)}\n`);
  }

  /** Only with --verbose: each command run, redacted. */
  debug(text: string): void {
    if (this.verbosity === 'verbose') this.err.write(`${this.c.dim(redact(text))}\n`);
  }

  /** An ora spinner on a TTY; plain start/end lines otherwise. */
  async spin(text: string): Promise<Spinner> {
    const plain: Spinner = {
      succeed: (t) => this.success(t),
      fail: (t) => this.err.write(`${this.c.red('✗')} ${redact(t)}\n`),
      stop: () => {},
    };
    if (this.verbosity !== 'normal' || !this.err.isTTY || process.env.CI) {
      if (this.verbosity !== 'quiet') this.info(`${this.c.cyan('›')} ${text}`);
      return plain;
    }
    const { default: ora } = await import('ora');
    const s = ora({ text: redact(text), stream: this.err as NodeJS.WriteStream, color: 'cyan' }).start();
    return {
      succeed: (t) => s.succeed(redact(t)),
      fail: (t) => s.fail(redact(t)),
      stop: () => s.stop(),
    };
  }
}
