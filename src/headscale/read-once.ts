// A view of a HeadscaleClient for one read-only pass (a status or doctor report): the reads
// that take no arguments are made once and shared by every check of the pass, so two checks
// that both look at the nodes cost Headscale one call.
import type { HeadscaleClient } from './types.js';

const SHARED: readonly (string | symbol)[] = ['listUsers', 'listNodes', 'getPolicy'];

export function readOnce(hs: HeadscaleClient): HeadscaleClient {
  const answers = new Map<string | symbol, Promise<unknown>>();
  return new Proxy(hs, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (!SHARED.includes(prop)) return value.bind(target) as unknown;
      return () => {
        let answer = answers.get(prop);
        if (!answer) {
          answer = (value as () => Promise<unknown>).call(target);
          answers.set(prop, answer);
        }
        return answer;
      };
    },
  });
}
