// The one usage-error helper: runs `fn`, expects it to throw a UsageError (or the given
// subclass, e.g. ConfigError) with exit code 3, and returns it for further assertions.
import { expect } from 'vitest';
import { UsageError } from '../../src/errors.js';

export function expectUsageError<E extends UsageError = UsageError>(
  fn: () => unknown,
  type: abstract new (...args: never[]) => E = UsageError as never,
): E {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(type);
  expect((err as E).exitCode).toBe(3);
  return err as E;
}
