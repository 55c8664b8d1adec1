// Secrets (auth keys, API keys) must never reach a log line, an error message or a plan.
// Every value passed to a Redactor is replaced by REDACTED wherever it appears, and
// anything that looks like a Tailscale/Headscale key is redacted even if nobody registered it.

export const REDACTED = '<redacted>';

const KEY_PATTERNS: readonly RegExp[] = [/\b(?:tskey|hskey)-[A-Za-z0-9]+-[A-Za-z0-9_-]+/g, /\bhskey-api-[A-Za-z0-9_-]+/g];

export class Redactor {
  private readonly secrets = new Set<string>();

  add(...values: (string | undefined)[]): void {
    for (const v of values) if (v && v.length >= 6) this.secrets.add(v);
  }

  redact(text: string): string {
    let out = text;
    // Longest first so a secret that contains another is replaced whole.
    for (const s of [...this.secrets].sort((a, b) => b.length - a.length)) out = out.split(s).join(REDACTED);
    for (const re of KEY_PATTERNS) out = out.replace(re, REDACTED);
    return out;
  }
}

/** Process-wide redactor: secrets learned anywhere are scrubbed everywhere. */
export const redactor = new Redactor();
export const redact = (text: string): string => redactor.redact(text);
