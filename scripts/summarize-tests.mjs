// Sums vitest's JSON reports into one closing line "N passed, N failed, N skipped".
// Fails when nothing ran, and under CI=true when anything was skipped.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const dir = process.argv[2];
let passed = 0,
  failed = 0,
  skipped = 0;
const rows = [];
for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()) {
  const r = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  const p = r.numPassedTests ?? 0,
    f = r.numFailedTests ?? 0,
    s = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
  // a file that failed outside its tests (failed to load, a beforeAll threw: its tests then
  // show as skipped) counts as one failure of its own
  const broken = (r.testResults ?? []).filter(
    (t) => t.status === 'failed' && !(t.assertionResults ?? []).some((a) => a.status === 'failed'),
  ).length;
  passed += p;
  failed += f + broken;
  skipped += s;
  rows.push(`  ${file.replace(/\.json$/, '').padEnd(24)} ${p} passed, ${f + broken} failed, ${s} skipped`);
}
console.log(rows.join('\n'));
const ci = process.env.CI === 'true' || process.env.CI === '1';
if (passed + failed === 0) {
  console.log('no test ran');
  process.exit(1);
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
if (failed) process.exit(1);
if (ci && skipped) {
  console.log(`CI=true: ${skipped} skipped test(s) count as failures`);
  process.exit(1);
}
