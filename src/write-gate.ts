// Dry run is a property of the seams: every write asks the WriteGate, which in dry-run
// records a PlanEntry (already redacted) instead of acting. Phases never branch on dry-run.

import { redact } from './ui/redact.js';

export type PlanEntry =
  | { kind: 'command'; argv: string[]; note?: string }
  | { kind: 'apply'; object: string; namespace?: string; manifest: unknown; note?: string }
  | { kind: 'delete'; object: string; namespace?: string; note?: string }
  | {
      kind: 'helm';
      action: 'upgrade --install' | 'uninstall' | 'rollback';
      release: string;
      namespace: string;
      chart?: string;
      values?: unknown;
      flags?: string[];
      note?: string;
    }
  | { kind: 'headscale'; action: string; args: Record<string, unknown>; note?: string }
  | { kind: 'restart'; object: string; namespace: string; note?: string }
  | { kind: 'note'; text: string };

export interface PhasePlan {
  id: string;
  description: string;
  status: 'run' | 'skipped';
  reason?: string;
  entries: PlanEntry[];
}

export type DryRunMode = 'off' | 'static' | 'live';

export class WriteGate {
  private current: PlanEntry[] | undefined;
  constructor(readonly mode: DryRunMode) {}

  get dryRun(): boolean {
    return this.mode !== 'off';
  }

  /** Entries written while `fn` runs go to `sink` (the runner points this at the running phase). */
  async collect<T>(sink: PlanEntry[], fn: () => Promise<T>): Promise<T> {
    const previous = this.current;
    this.current = sink;
    try {
      return await fn();
    } finally {
      this.current = previous;
    }
  }

  /** Perform a write, or in dry-run record it and return `dryResult`. */
  async write<T>(entry: PlanEntry, action: () => Promise<T>, dryResult: T): Promise<T> {
    if (!this.dryRun) return action();
    this.record(entry);
    return dryResult;
  }

  record(entry: PlanEntry): void {
    this.current?.push(redactEntry(entry));
  }
}

/** Deep-redact any string in a plan entry (argv, manifests, values). */
export function redactEntry<T>(value: T): T {
  if (typeof value === 'string') return redact(value) as T;
  if (Array.isArray(value)) return value.map(redactEntry) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactEntry(v)])) as T;
  }
  return value;
}
