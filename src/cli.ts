// Builds the commander program. Kept light: command modules (zod, execa, client-node) load
// only when their command runs; errors become exit codes here and only here.
import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { EXIT_CODES, ExitCode, isJuneError, type ExitCodeValue } from './errors.js';
import { renderTree } from './phases/engine.js';
import { redact } from './ui/redact.js';
import { WORKFLOWS, type WorkflowName } from './phases/workflows.js';
import type { Runtime } from './commands/runtime.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function phaseTree(name: WorkflowName): string {
  return renderTree(WORKFLOWS[name] as never);
}

const EXIT_CODES_HELP = ['Exit codes:', ...EXIT_CODES.map((e) => `  ${String(e.code).padEnd(5)}${e.summary}`)].join('\n');

/** For scripts/gen-docs.mjs, which reads the built cli.js. */
export { EXIT_CODES };

type CommandModule = { run: (raw: unknown, rt: Runtime) => Promise<void> };

export function buildProgram(rt: Runtime, run: (load: () => Promise<CommandModule>, cmd: Command) => Promise<void>): Command {
  const program = new Command('june-ts')
    .description('Put June Platform services on a private Headscale tailnet with Tailscale sidecars on Kubernetes.')
    .version(packageVersion(), '--version')
    .option('--config <path>', 'config file (dotenv format)', undefined)
    .option('--kubeconfig <path>', 'kubeconfig file (overrides KUBECONFIG)')
    .option('--context <name>', 'kubeconfig context (overrides KUBE_CONTEXT)')
    .addOption(
      new Option(
        '--dry-run [mode]',
        'print the plan instead of changing anything: static (default, no cluster needed) or live (reads the cluster)',
      ),
    )
    .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text'))
    .option('-v, --verbose', 'show every command run (secrets redacted)')
    .option('-q, --quiet', 'only errors and results')
    .option('--no-color', 'disable colours (NO_COLOR is honoured too)')
    .option('-y, --yes', 'do not ask for confirmation')
    .showSuggestionAfterError(true)
    .enablePositionalOptions(false)
    .addHelpText(
      'after',
      `\nPhases of \`june-ts install\`:\n${phaseTree('install')}\n\nConfiguration: config.env (see config.env.example); flags > environment > file > defaults.\n\n${EXIT_CODES_HELP}\n`,
    );

  const withPhases = (cmd: Command, name: WorkflowName) =>
    cmd
      .option('--skip <ids>', 'skip a phase and its children (repeatable, comma lists allowed)', collect, [])
      .option('--only <ids>', 'run only these phases and their children (repeatable, comma lists allowed)', collect, [])
      .addHelpText('after', `\nPhases:\n${phaseTree(name)}\n`);

  withPhases(
    program
      .command('install')
      .description('Fresh install: Headscale (11), sidecars (11.2), this host on the tailnet (11.5)')
      .option('--force-reauth', '11.5: move a host logged in to another control server')
      .option(
        '--backup-dir <dir>',
        '11: where the backups taken before each Headscale upgrade step are copied (default HEADSCALE_BACKUP_DIR)',
      ),
    'install',
  ).action((_o, cmd: Command) => run(() => import('./commands/install.js'), cmd));

  withPhases(
    program.command('deploy-sidecars').description('Add Tailscale sidecars to an existing June Platform deployment (phase 11.2)'),
    'deploy-sidecars',
  ).action((_o, cmd: Command) => run(() => import('./commands/deploy-sidecars.js'), cmd));

  program
    .command('rotate-keys')
    .description('Mint new pre-auth keys, prove each with a short-lived key-check node, then expire the old keys (no pod is restarted)')
    .option('--service <name>', 'rotate only this service (repeatable)', collect, [])
    .option(
      '--if-expiring-within <duration>',
      'do nothing unless a key expires within this time (e.g. 30d); then rotate only those services',
    )
    .option(
      '--restart',
      're-register the sidecars: restart the Deployments and wait until the rollout has finished before expiring old keys',
    )
    .addHelpText('after', `\nPhases:\n${phaseTree('rotate-keys')}\n`)
    .action((_o, cmd: Command) => run(() => import('./commands/rotate-keys.js'), cmd));

  program
    .command('cleanup')
    .description('Remove the sidecars, their nodes and Secrets (reverse of install)')
    .option('--purge', 'also expire the keys and delete the Headscale users')
    .option('--all', 'also uninstall Headscale (implies --purge)')
    .addHelpText('after', `\nPhases:\n${phaseTree('cleanup')}\n`)
    .action((_o, cmd: Command) => run(() => import('./commands/cleanup.js'), cmd));

  program
    .command('restore')
    .description('Restore Headscale from a backup phase 11 took before an upgrade step (its database, keys and version)')
    .argument('<backup>', 'a backup directory phase 11 wrote (HEADSCALE_BACKUP_DIR/<name>) or the name of a backup on the Headscale volume')
    .addHelpText('after', `\nPhases:\n${phaseTree('restore')}\n`)
    .action((backup: string, _o, cmd: Command) => {
      cmd.setOptionValue('backup', backup);
      return run(() => import('./commands/restore.js'), cmd);
    });

  program
    .command('status')
    .description('Is the tailnet healthy? Headscale, keys, sidecars, nodes (exit 4 when degraded)')
    .option('--wait', 'wait (bounded by WAIT_TIMEOUT) until healthy')
    .action((_o, cmd: Command) => run(() => import('./commands/status.js'), cmd));

  program
    .command('doctor')
    .description("Diagnose the spec's troubleshooting cases, each with its fix; --pre before install")
    .option('--pre', 'pre-install checks: binaries, versions, cluster, permissions')
    .action((_o, cmd: Command) => run(() => import('./commands/doctor.js'), cmd));

  program
    .command('phases')
    .description('List the phases of a command as a tree')
    .argument('[command]', 'install, deploy-sidecars, rotate-keys, cleanup or restore', 'install')
    .action((name: string) => {
      if (!(name in WORKFLOWS)) {
        throw new CommanderError(
          ExitCode.usage,
          'june-ts.usage',
          `error: unknown command '${name}' — use one of ${Object.keys(WORKFLOWS).join(', ')}\n`,
        );
      }
      (rt.stdout ?? process.stdout).write(`${phaseTree(name as WorkflowName)}\n`);
    });

  const out = () => rt.stdout ?? process.stdout;
  program
    .command('completion')
    .description('Print the shell completion script: source <(june-ts completion bash), zsh likewise, fish: | source')
    .argument('<shell>', 'bash, zsh or fish')
    .action(async (shell: string) => {
      out().write((await import('./commands/completion.js')).completionScript(shell));
    });

  program
    .command('__complete', { hidden: true })
    .argument('[words...]')
    .allowUnknownOption()
    .action(async (words: string[]) => {
      const { complete, configuredServices } = await import('./commands/completion.js');
      const found = await complete(program, words, { services: (path) => configuredServices(path, rt.env ?? process.env) });
      out().write(found.map((w) => `${w}\n`).join(''));
    });

  program
    .command('config')
    .description('Print the resolved configuration and where each value came from (secrets redacted)')
    .action((_o, cmd: Command) => run(() => import('./commands/config.js'), cmd));

  return program;
}

export async function main(argv: string[], rt: Runtime = {}): Promise<ExitCodeValue> {
  const stderr = rt.stderr ?? process.stderr;
  const controller = new AbortController();
  const signal = rt.signal ?? controller.signal;
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) process.exit(ExitCode.interrupted);
    interrupted = true;
    controller.abort();
  };
  if (!rt.signal) {
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
  }
  let code: ExitCodeValue = ExitCode.ok;
  const program = buildProgram({ ...rt, signal }, async (load, cmd) => {
    const mod = await load();
    await mod.run({ ...cmd.optsWithGlobals() }, { ...rt, signal });
  });
  program.exitOverride();
  program.configureOutput({
    writeOut: (s) => (rt.stdout ?? process.stdout).write(s),
    writeErr: (s) => stderr.write(s),
  });
  for (const sub of program.commands) {
    sub.exitOverride();
    sub.configureOutput({ writeOut: (s) => (rt.stdout ?? process.stdout).write(s), writeErr: (s) => stderr.write(s) });
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    code = await report(e, stderr, rt.env ?? process.env);
  } finally {
    process.off('SIGINT', onSigint);
    process.off('SIGTERM', onSigint);
  }
  if (interrupted && code === ExitCode.ok) code = ExitCode.interrupted;
  return code;
}

async function report(e: unknown, stderr: NodeJS.WritableStream, env: NodeJS.ProcessEnv): Promise<ExitCodeValue> {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return ExitCode.ok;
    if (e.code === 'june-ts.usage') stderr.write(e.message);
    stderr.write('(see `june-ts --help`)\n');
    return ExitCode.usage;
  }
  const color = !('NO_COLOR' in env) && Boolean((stderr as { isTTY?: boolean }).isTTY);
  const red = (s: string) => (color ? `\u001b[31m${s}\u001b[39m` : s);
  if (isJuneError(e)) {
    stderr.write(`${red('error:')} ${redact(e.message)}\n`);
    if (e.hint) stderr.write(`  ${redact(e.hint).split('\n').join('\n  ')}\n`);
    return e.exitCode;
  }
  const err = e as Error;
  let stack = err?.stack ?? String(e);
  try {
    stack = (await import('./ui/stack.js')).mapStack(stack);
  } catch {
    // keep the bundle's frames
  }
  stderr.write(`${red('internal error')} (a bug in june-ts — please report it): ${redact(stack)}\n`);
  return ExitCode.external;
}
