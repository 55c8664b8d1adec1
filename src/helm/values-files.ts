// The operator's extra values files (HEADSCALE_VALUES / PLATFORM_VALUES), read the way Helm
// would take them: each must parse as YAML and hold a mapping.
import { readFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';

export async function readValuesFiles(paths: readonly string[]): Promise<Record<string, unknown>[]> {
  if (!paths.length) return [];
  const { parse } = await import('yaml');
  return Promise.all(
    paths.map(async (p) => {
      let text: string;
      try {
        text = await readFile(p, 'utf8');
      } catch {
        throw new UsageError(`values file ${p} cannot be read`, { hint: 'fix HEADSCALE_VALUES / PLATFORM_VALUES' });
      }
      let doc: unknown;
      try {
        doc = parse(text);
      } catch (e) {
        throw new UsageError(`values file ${p} is not valid YAML: ${(e as Error).message.split('\n')[0]}`, { hint: 'fix the file' });
      }
      if (doc !== null && (typeof doc !== 'object' || Array.isArray(doc))) throw new UsageError(`values file ${p} must hold a YAML mapping`, { hint: 'fix the file' });
      return (doc ?? {}) as Record<string, unknown>;
    }),
  );
}
