// BENCHMARKS.md is written by more than one script: each owns a section between markers, and
// a script that regenerates the file keeps the sections it does not own.
export const ROTATION = { start: '<!-- rotation:start -->', end: '<!-- rotation:end -->' };

/** The section between `markers` in `text` (markers included), or ''. */
export function sectionOf(text, markers) {
  const a = text.indexOf(markers.start);
  const b = text.indexOf(markers.end);
  return a >= 0 && b > a ? text.slice(a, b + markers.end.length) : '';
}

/** `text` with its section between `markers` replaced by `block` (appended when absent). */
export function withSection(text, markers, block) {
  const old = sectionOf(text, markers);
  if (old) return text.replace(old, block);
  return `${text.trimEnd()}\n\n${block}\n`;
}
