// The global options every command accepts (zod), and how command options are parsed.
import { z } from 'zod';
import { UsageError } from '../errors.js';
import type { DryRunMode } from '../write-gate.js';

export const globalOptionsSchema = z
  .object({
    config: z.string().optional(),
    kubeconfig: z.string().optional(),
    context: z.string().optional(),
    dryRun: z
      .union([z.boolean(), z.string()])
      .optional()
      .transform((v, ctx): DryRunMode => {
        if (v === undefined || v === false) return 'off';
        if (v === true || v === 'static') return 'static';
        if (v === 'live') return 'live';
        ctx.addIssue({ code: 'custom', message: `--dry-run: '${v}' is not a mode — use --dry-run (static, no cluster) or --dry-run=live` });
        return z.NEVER;
      }),
    output: z.enum(['text', 'json'], { message: '--output: must be text or json' }).default('text'),
    verbose: z.boolean().default(false),
    quiet: z.boolean().default(false),
    color: z.boolean().default(true),
    yes: z.boolean().default(false),
  })
  .refine((o) => !(o.verbose && o.quiet), { message: '--verbose and --quiet: choose one' });

export type GlobalOptions = z.output<typeof globalOptionsSchema>;

/** zod-parse command options; every problem becomes one UsageError line. */
export function parseOptions<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const r = schema.safeParse(raw);
  if (!r.success) throw new UsageError(r.error.issues.map((i) => i.message).join('\n'), { hint: 'see `june-ts <command> --help`' });
  return r.data;
}
