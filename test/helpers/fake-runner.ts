// A ProcessRunner for unit tests that fails closed: any command it was not told about
// is an error, so a test cannot pass by accident. Every call is recorded.
import type { ProcessRunner, RunOptions, RunResult } from '../../src/process/runner.js';

export interface FakeCall {
  file: string;
  args: string[];
  options: RunOptions;
}

type Responder = (call: FakeCall) => Partial<RunResult> | Promise<Partial<RunResult>>;

interface Rule {
  matches: (call: FakeCall) => boolean;
  respond: Responder;
  times: number; // Infinity = any number of times
}

export class FakeRunner implements ProcessRunner {
  readonly calls: FakeCall[] = [];
  private readonly rules: Rule[] = [];

  /** Answer calls whose `file args…` starts with `prefix` (space-joined). */
  on(prefix: string | ((call: FakeCall) => boolean), respond: Responder | Partial<RunResult>, times = Infinity): this {
    const matches = typeof prefix === 'function' ? prefix : (c: FakeCall) => [c.file, ...c.args].join(' ').startsWith(prefix);
    this.rules.push({ matches, respond: typeof respond === 'function' ? respond : () => respond, times });
    return this;
  }

  async run(file: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    const call: FakeCall = { file, args: [...args], options };
    this.calls.push(call);
    const rule = this.rules.find((r) => r.times > 0 && r.matches(call));
    if (!rule) throw new Error(`FakeRunner: unexpected command: ${[file, ...args].join(' ')}`);
    rule.times--;
    const res = await rule.respond(call);
    const result = { stdout: res.stdout ?? '', stderr: res.stderr ?? '', exitCode: res.exitCode ?? 0 };
    if (result.exitCode !== 0 && !options.allowFailure) {
      const { ExternalError } = await import('../../src/errors.js');
      throw new ExternalError(`${file} failed (exit ${result.exitCode}): ${result.stderr}`, {
        command: [file, ...args].join(' '),
        stderr: result.stderr,
        exitCode: result.exitCode,
      });
    }
    return result;
  }

  commandLines(): string[] {
    return this.calls.map((c) => [c.file, ...c.args].join(' '));
  }
}
