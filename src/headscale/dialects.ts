// What each Headscale generation says, in one place. For every operation a dialect builds
// the CLI argv (after `headscale`) and the REST request that generation expects
// (./dialects/request.ts), and reads the answer with the zod schemas of ./schemas.ts. Pure:
// ./client.ts sends what a dialect builds through a wire (./cli-wire.ts, ./http-wire.ts).
//
// One file per generation, each written as what changed since the one before (seen in the
// real binaries, test/unit/headscale/fixtures): ./dialects/v023.ts (0.23–0.25),
// ./dialects/v026.ts (0.26–0.27), ./dialects/v028.ts (0.28+). This file picks one.
//
// Expiring by value has no CLI form: the key would be in argv (kubectl exec → audit logs).
// What differs between the wires is the same for every generation: the CLI prints the bare
// object (snake_case), the API wraps it ({"users": …}, camelCase); the CLI takes a duration
// (`--expiration 180d`), the API an absolute time.
import { generationRange, type SyntaxGeneration } from './types.js';
import type { OpenApiDefinitions } from './dialects/request.js';
import { V023 } from './dialects/v023.js';
import { V026 } from './dialects/v026.js';
import { V028 } from './dialects/v028.js';

export type Dialect = V023;

/** Newest first: a newer generation's help text or OpenAPI document may still show an older one's marks. */
const DIALECTS = { v028: new V028(), v026: new V026(), v023: new V023() } satisfies Record<SyntaxGeneration, Dialect>;

export function dialectOf(generation: SyntaxGeneration): Dialect {
  return DIALECTS[generation];
}

/** The releases that mint tag-owned keys, e.g. `0.28+`: those of the oldest dialect that does. */
export const TAG_OWNED_KEYS_SINCE = generationRange(
  Object.values(DIALECTS)
    .filter((d) => d.ownsKeysByTag)
    .at(-1)!.generation,
).replace(/–.*/, '+');

/** The generation whose `preauthkeys expire --help` this is (for source builds that print no version). */
export function generationFromHelp(help: string): SyntaxGeneration | undefined {
  return Object.values(DIALECTS).find((d) => d.recognisesHelp(help))?.generation;
}

/** The generation that serves this OpenAPI document (for servers without GET /version). */
export function generationFromOpenApi(defs: OpenApiDefinitions): SyntaxGeneration | undefined {
  return Object.values(DIALECTS).find((d) => d.recognisesOpenApi(defs))?.generation;
}
