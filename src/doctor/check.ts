// One doctor finding: what was checked, whether it passed, and the fix when it did not.
export interface Check {
  name: string;
  ok: boolean;
  level: 'error' | 'warn';
  detail: string;
  fix?: string;
}
