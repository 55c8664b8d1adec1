// zod schemas for the JSON june-ts reads from helm.
import { z } from 'zod';
import { ExternalError } from '../errors.js';
import type { ReleaseInfo } from './types.js';

const releaseList = z.array(
  z.object({
    name: z.string(),
    namespace: z.string(),
    revision: z.union([z.string(), z.number()]).transform((v) => Number(v)),
    status: z.string(),
    chart: z.string(),
  }),
).nullable();

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text.trim() || 'null');
  } catch {
    throw new ExternalError(`${what}: helm printed something that is not JSON: ${text.slice(0, 200)}`);
  }
}

export function parseReleaseList(text: string): ReleaseInfo[] {
  const r = releaseList.safeParse(parseJson(text, 'helm list'));
  if (!r.success) throw new ExternalError(`helm list -o json: unexpected output (${r.error.issues[0]?.message})`);
  return r.data ?? [];
}

export function parseValues(text: string): Record<string, unknown> {
  const r = z.record(z.string(), z.unknown()).nullable().safeParse(parseJson(text, 'helm get values'));
  if (!r.success) throw new ExternalError('helm get values -o json: unexpected output');
  return r.data ?? {};
}
