// What Helm would make of the files the config names, checked while loading the config so a
// broken path fails there (exit 3, nothing changed) and not at the helm step.
import { readFileSync, statSync } from 'node:fs';
import { parseDocument as parseYamlDocument } from 'yaml';

/** Why Helm would refuse `file` as a values file (not YAML, or not a mapping), or undefined. */
export function valuesFileProblem(file: string): string | undefined {
  let doc;
  try {
    doc = parseYamlDocument(readFileSync(file, 'utf8'));
  } catch (e) {
    return `cannot be read (${(e as NodeJS.ErrnoException).code ?? 'error'}) — check its permissions`;
  }
  const error = doc.errors[0];
  if (error) return `is not valid YAML: ${error.message.split('\n')[0]!.replace(/:$/, '')} — fix the file`;
  const top: unknown = doc.toJS();
  if (top !== null && (typeof top !== 'object' || Array.isArray(top))) {
    return 'is not a YAML mapping of values (e.g. `services:` at the top) — fix the file';
  }
  return undefined;
}

export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
