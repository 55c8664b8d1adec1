// Shell completion. `june-ts completion bash|zsh|fish` prints a small script that asks the
// CLI itself (`june-ts __complete -- <words>`) for candidates, so commands, flags, phase ids
// and services come from the same definitions as --help; the shells only display them.
import type { Command, Option } from 'commander';
import { flatten } from '../phases/engine.js';
import { WORKFLOWS, type WorkflowName } from '../phases/workflows.js';
import { UsageError } from '../errors.js';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

/** The line that asks the shell to complete file names instead. */
export const FILES = ':files';

const FILE_OPTIONS = new Set(['--config', '--kubeconfig']);

export function completionScript(shell: string): string {
  if (!(SHELLS as readonly string[]).includes(shell)) {
    throw new UsageError(`completion: '${shell}' is not a supported shell — use one of ${SHELLS.join(', ')}`, {
      hint: 'e.g. `source <(june-ts completion bash)`',
    });
  }
  return SCRIPTS[shell as Shell];
}

const SCRIPTS: Record<Shell, string> = {
  bash: `# june-ts completion for bash: source <(june-ts completion bash)
_june_ts_complete() {
  local line=\${COMP_LINE:0:COMP_POINT} reply
  local -a words
  read -r -a words <<<"$line"
  [[ $line == *[[:space:]] ]] && words+=('')
  local w=\${words[\${#words[@]}-1]}
  reply=$("\${words[0]}" __complete -- "\${words[@]:1}" 2>/dev/null) || return 0
  if [[ $reply == '${FILES}' ]]; then
    compopt -o default 2>/dev/null
    COMPREPLY=()
    return 0
  fi
  local IFS=$'\\n'
  COMPREPLY=($(compgen -W "$reply" -- "$w"))
  # bash splits words at '=' and ':': replace only the part after the last split
  local cur=\${COMP_WORDS[COMP_CWORD]}
  if [[ $w != "$cur" ]]; then
    local pre=\${w%"$cur"}
    COMPREPLY=("\${COMPREPLY[@]#"$pre"}")
  fi
}
complete -F _june_ts_complete june-ts
`,
  zsh: `#compdef june-ts
# june-ts completion for zsh: source <(june-ts completion zsh)
_june_ts_complete() {
  local -a reply
  reply=("\${(@f)$(\${words[1]} __complete -- "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  if [[ \${reply[1]} == '${FILES}' ]]; then
    _files
  elif (( \${#reply} )) && [[ -n \${reply[1]} ]]; then
    compadd -Q -- "\${reply[@]}"
  fi
}
if (( $+functions[compdef] )); then compdef _june_ts_complete june-ts; fi
`,
  fish: `# june-ts completion for fish: june-ts completion fish | source
function __june_ts_complete
    set -l words (commandline -opc) (commandline -ct)
    set -l reply ($words[1] __complete -- $words[2..-1] 2>/dev/null)
    if test "$reply[1]" = '${FILES}'
        __fish_complete_path (commandline -ct)
    else
        printf '%s\\n' $reply
    end
end
complete -c june-ts -f -a '(__june_ts_complete)'
`,
};

export interface CompleteOptions {
  /** Services for --service: from the config when it loads, else none. */
  services?: (configPath: string | undefined) => Promise<string[]>;
}

function optionNames(cmd: Command): Option[] {
  return [...cmd.options] as Option[];
}

function findOption(options: Option[], word: string): Option | undefined {
  return options.find((o) => o.long === word || o.short === word);
}

/**
 * Candidates for the last word of `words` (the words after `june-ts`, the last one being
 * the word under the cursor, possibly empty). Only candidates that start with that word.
 */
export async function complete(program: Command, words: string[], o: CompleteOptions = {}): Promise<string[]> {
  const current = words.at(-1) ?? '';
  const before = words.slice(0, -1);
  const globals = optionNames(program);
  let sub: Command | undefined;
  let configPath: string | undefined;
  for (let i = 0; i < before.length; i++) {
    const w = before[i]!;
    const opt = findOption([...globals, ...(sub ? optionNames(sub) : [])], w.split('=')[0]!);
    if (opt) {
      if (opt.long === '--config') configPath = w.includes('=') ? w.slice(w.indexOf('=') + 1) : before[i + 1];
      if (opt.required && !w.includes('=')) i++;
      continue;
    }
    if (!sub && !w.startsWith('-')) sub = program.commands.find((c) => c.name() === w && !isHidden(c));
  }
  const options = [...(sub ? optionNames(sub) : []), ...globals];
  const prev = before.at(-1);
  const prevOption = prev && !prev.includes('=') ? findOption(options, prev) : undefined;
  const starting = (values: Iterable<string>) => [...values].filter((v) => v.startsWith(current));

  if (current.includes('=') && current.startsWith('--')) {
    const [flag] = current.split('=');
    const opt = findOption(options, flag!);
    return opt ? starting(valuesOf(opt, sub).map((v) => `${flag}=${v}`)) : [];
  }
  if (prevOption && prevOption.required) {
    if (FILE_OPTIONS.has(prevOption.long ?? '')) return [FILES];
    if (prevOption.long === '--service') return starting(await (o.services?.(configPath) ?? Promise.resolve([])));
    if (prevOption.long === '--skip' || prevOption.long === '--only') {
      // comma lists: complete the last id, keep what was typed before it
      const head = current.includes(',') ? current.slice(0, current.lastIndexOf(',') + 1) : '';
      return starting(valuesOf(prevOption, sub).map((id) => `${head}${id}`));
    }
    return starting(valuesOf(prevOption, sub));
  }
  if (current.startsWith('-')) {
    return starting(options.flatMap((opt) => (opt.hidden ? [] : [opt.long ?? opt.short ?? ''])).filter(Boolean));
  }
  if (!sub) return starting(program.commands.filter((c) => !isHidden(c)).map((c) => c.name()));
  if (sub.name() === 'phases') return starting(Object.keys(WORKFLOWS));
  if (sub.name() === 'completion') return starting(SHELLS);
  return [];
}

function isHidden(c: Command): boolean {
  return (c as unknown as { _hidden?: boolean })._hidden === true;
}

function valuesOf(opt: Option, sub: Command | undefined): string[] {
  if (opt.long === '--skip' || opt.long === '--only') {
    const name = sub?.name();
    return name && name in WORKFLOWS ? flatten(WORKFLOWS[name as WorkflowName] as never).map((p) => p.id) : [];
  }
  if (opt.long === '--dry-run') return ['static', 'live'];
  return opt.argChoices ?? [];
}

/** The services of the config the command line names (or ./config.env); none when it does not load. */
export async function configuredServices(configPath: string | undefined, env: NodeJS.ProcessEnv): Promise<string[]> {
  try {
    const { loadConfig } = await import('../config/load.js');
    return loadConfig({ configPath, env, warn: () => {} }).services;
  } catch {
    return [];
  }
}
