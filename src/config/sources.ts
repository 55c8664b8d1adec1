// Reads config.env (dotenv, parsed into a plain object — process.env is never mutated) and
// overlays the environment and flags (flags > environment > file > defaults): each key's raw
// value and where it came from, before ./load.ts validates them.
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse as parseDotenv } from 'dotenv';
import { ConfigError, UsageError } from '../errors.js';
import { FIELD_KEYS, FIELDS, type FieldKey } from './fields.js';
import { didYouMean } from './suggest.js';

export type Source = 'flag' | 'env' | 'file' | 'default';

export interface LoadOptions {
  /** --config; undefined means ./config.env, which may be absent. */
  configPath?: string;
  env?: NodeJS.ProcessEnv;
  /** Values from flags, keyed like config.env. */
  flags?: Record<string, string | undefined>;
  cwd?: string;
  /** Warnings (unknown keys) go here. */
  warn?: (message: string) => void;
}

/** What the config file, the environment and the flags say, key by key, before validation. */
export interface RawConfig {
  configPath: string;
  /** A config file was read (or named with --config). */
  fileLoaded: boolean;
  raw: Partial<Record<FieldKey, string>>;
  sources: Record<string, Source>;
}

function readConfigFile(path: string, explicit: boolean): Record<string, string> {
  let stat;
  try {
    stat = statSync(path);
  } catch {
    if (!explicit) return {};
    throw new UsageError(`config file ${path} does not exist`, {
      hint: 'copy config.env.example to config.env and edit it, or pass --config PATH',
    });
  }
  if (stat.isDirectory()) {
    throw new UsageError(`config file ${path} is a directory`, { hint: 'pass the path of a config.env file to --config' });
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new UsageError(`config file ${path} cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'})`, {
      hint: `check the file's permissions (chmod 600 ${path} keeps secrets in it private)`,
    });
  }
  // A UTF-8 BOM (Windows editors) and CRLF line endings are accepted as they are.
  return parseDotenv(text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n'));
}

export function readSources(options: LoadOptions, cwd: string): RawConfig {
  const env = options.env ?? process.env;
  const explicit = options.configPath !== undefined;
  const configPath = resolve(cwd, options.configPath ?? 'config.env');
  const file = readConfigFile(configPath, explicit);
  const fileLoaded = Object.keys(file).length > 0 || explicit;

  // A misspelt key would silently leave its field at the default (another namespace, another
  // release): a key close to a known one stops the run; a key like no other is only warned about.
  const typos: string[] = [];
  for (const key of Object.keys(file)) {
    if (FIELD_KEYS.has(key)) continue;
    const guess = didYouMean(key, [...FIELD_KEYS]);
    if (guess && file[guess] === undefined) typos.push(`${key}: unknown key — did you mean ${guess}? Rename it to ${guess}`);
    else options.warn?.(`${configPath}: unknown key ${key}${guess ? ` — did you mean ${guess}?` : ' (ignored)'}`);
  }
  if (typos.length) throw new ConfigError(typos, { hint: `fix ${configPath}` });

  const raw: Partial<Record<FieldKey, string>> = {};
  const sources: Record<string, Source> = {};
  for (const { key } of FIELDS) {
    const fromFlag = options.flags?.[key];
    const fromEnv = env[key];
    const fromFile = file[key];
    const pick = [
      [fromFlag, 'flag'],
      [fromEnv, 'env'],
      [fromFile, 'file'],
    ].find(([v]) => v !== undefined && v !== '') as [string, Source] | undefined;
    if (pick) {
      raw[key] = pick[0];
      sources[key] = pick[1];
    } else sources[key] = 'default';
  }
  return { configPath, fileLoaded, raw, sources };
}
