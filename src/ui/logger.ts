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
}
