// Shell completion: the candidates (commands, flags, phase ids, services, --output values)
// over the real program, and the bash script driven the way bash drives it on <TAB>.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli.js';
import { complete, FILES } from '../../src/commands/completion.js';
import { flatten } from '../../src/phases/engine.js';
import { WORKFLOWS } from '../../src/phases/workflows.js';

const ROOT = resolve(__dirname, '../..');
const BIN = resolve(ROOT, 'bin/june-ts.js');
const EXAMPLE = resolve(ROOT, 'config.env.example');
const tmp = mkdtempSync(join(tmpdir(), 'june-ts-completion-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('candidates', () => {
  const program = buildProgram({}, async () => {});
  const services = async (path: string | undefined) => (path === EXAMPLE ? ['orchestrator', 'idp'] : []);
  const c = (...words: string[]) => complete(program, words, { services });

  it('commands, without the hidden one', async () => {
    expect(await c('')).toEqual([
      'install',
      'deploy-sidecars',
      'rotate-keys',
      'cleanup',
      'restore',
      'status',
      'doctor',
      'phases',
      'completion',
      'config',
    ]);
    expect(await c('de')).toEqual(['deploy-sidecars']);
  });

  it('flags of the command and the global ones', async () => {
    const flags = await c('install', '--');
    expect(flags).toEqual(expect.arrayContaining(['--skip', '--only', '--force-reauth', '--config', '--dry-run', '--output']));
    expect(flags).not.toContain('--service');
    expect(await c('rotate-keys', '--se')).toEqual(['--service']);
  });

  it('phase ids of that command for --skip and --only, also inside comma lists', async () => {
    expect(await c('install', '--skip', '11.2')).toEqual(
      flatten(WORKFLOWS.install)
        .map((p) => p.id)
        .filter((id) => id.startsWith('11.2')),
    );
    expect(await c('deploy-sidecars', '--only', '')).toEqual(flatten(WORKFLOWS['deploy-sidecars']).map((p) => p.id));
    expect(await c('install', '--only', '11-headscale,11.5')).toEqual(['11-headscale,11.5-tailnet-host']);
  });

  it('services from the config named on the line; none without one', async () => {
    expect(await c('--config', EXAMPLE, 'rotate-keys', '--service', '')).toEqual(['orchestrator', 'idp']);
    expect(await c('rotate-keys', '--config', EXAMPLE, '--service', 'i')).toEqual(['idp']);
    expect(await c('rotate-keys', '--service', '')).toEqual([]);
  });

  it('--output, --dry-run=, file options, phases and completion arguments', async () => {
    expect(await c('status', '-o', '')).toEqual(['text', 'json']);
    expect(await c('status', '--output', 'j')).toEqual(['json']);
    expect(await c('install', '--dry-run=')).toEqual(['--dry-run=static', '--dry-run=live']);
    expect(await c('install', '--config', '')).toEqual([FILES]);
    expect(await c('phases', 'r')).toEqual(['rotate-keys', 'restore']);
    expect(await c('completion', '')).toEqual(['bash', 'zsh', 'fish']);
  });
});

describe('june-ts completion bash, sourced in bash', () => {
  const bin = join(tmp, 'bin');
  mkdirSync(bin);
  symlinkSync(BIN, join(bin, 'june-ts'));
  const config = join(tmp, 'config.env');
  writeFileSync(config, 'HEADSCALE_DOMAIN=hs.example.com\nTAILSCALE_SERVICES=orchestrator,idp,ledger\n');

  /** What bash offers on <TAB> at the end of `line` (COMP_* set as bash sets them). */
  function tab(line: string): string[] {
    const script = `
set -e
source <(june-ts completion bash)
complete -p june-ts
COMP_LINE=${JSON.stringify(line)}
COMP_POINT=\${#COMP_LINE}
COMP_WORDBREAKS=$' \\t\\n"\\'><=;|&(:'
# split like readline: at blanks, and '=' as a word of its own
read -r -a COMP_WORDS <<<"\${COMP_LINE//=/ = }"
[[ $COMP_LINE == *' ' ]] && COMP_WORDS+=('')
COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 ))
_june_ts_complete
printf '%s\\n' "\${COMPREPLY[@]}"
`;
    const r = spawnSync('bash', ['-c', script], {
      cwd: tmp,
      env: { PATH: `${bin}:${process.execPath.replace(/\/node$/, '')}:/usr/bin:/bin`, HOME: tmp },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const [registration, ...reply] = r.stdout.split('\n').filter(Boolean);
    expect(registration).toBe('complete -F _june_ts_complete june-ts');
    return reply;
  }

  it('june-ts install --skip 11.2<TAB> offers the 11.2 phase ids', () => {
    const reply = tab('june-ts install --skip 11.2');
    expect(reply[0]).toBe('11.2-headscale-sidecars');
    expect(reply).toEqual(
      flatten(WORKFLOWS.install)
        .map((p) => p.id)
        .filter((id) => id.startsWith('11.2')),
    );
    expect(tab('june-ts install --skip 11.2-headscale-sidecars/v')).toEqual(['11.2-headscale-sidecars/verify']);
  });

  it('commands, --output values, --dry-run= after the split at =, services of ./config.env', () => {
    expect(tab('june-ts ro')).toEqual(['rotate-keys']);
    expect(tab('june-ts status -o ')).toEqual(['text', 'json']);
    expect(tab('june-ts install --dry-run=li')).toEqual(['live']);
    expect(tab('june-ts rotate-keys --service ')).toEqual(['orchestrator', 'idp', 'ledger']);
  });

  it('an unknown shell is a usage error (exit 3)', () => {
    const r = spawnSync(process.execPath, [BIN, 'completion', 'tcsh'], { env: { PATH: '/usr/bin:/bin', NO_COLOR: '1' }, encoding: 'utf8' });
    expect(r.status).toBe(3);
    expect(r.stderr).toContain("error: completion: 'tcsh' is not a supported shell — use one of bash, zsh, fish");
  });
});
