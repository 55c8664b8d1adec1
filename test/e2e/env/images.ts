// Which container images the environment's kubelet runs for real, and with what: the image
// stands for a binary of the machine, as a registry would stand for the image.
//  * headscale/headscale:<tag> -> the toolchain's headscale-v<tag>/headscale (a tag not built
//    fails the container as a pull of a missing tag would: ErrImagePull);
//  * alpine, busybox, keinos/sqlite3 -> the machine's /bin/sh and sqlite3 (Debian's package),
//    so a one-off pod (a database backup) can run its shell command inside the pod.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const REGISTRY = '(?:docker\\.io/)?(?:library/)?';
const HEADSCALE = new RegExp(`^${REGISTRY}(?:headscale|juanfont)/headscale(?::([^@]+))?(?:@.*)?$`);
const SHELL = new RegExp(`^${REGISTRY}(alpine|busybox|keinos/sqlite3)(?::[^@]+)?(?:@.*)?$`);

/** jq test (kwok Stage selectors) matching the same images as runnableImage. */
export const RUNNABLE_IMAGE_JQ = `^${REGISTRY}((headscale|juanfont)/headscale|alpine|busybox|keinos/sqlite3)(:|@|$)`.replace(/\\/g, '\\\\');

export type RunnableImage = { name: string; entrypoint: string[]; pathDirs: string[] } | { pullError: string };

/**
 * @param binRoot the toolchain's bin dir (~/.cache/june-ts-e2e/bin)
 * @returns undefined: not an image this environment runs (the pod gets stand-ins)
 */
export function runnableImage(image: string | undefined, binRoot: string): RunnableImage | undefined {
  const hs = HEADSCALE.exec(image ?? '');
  if (hs) {
    const tag = hs[1] ?? 'latest';
    const version = `v${tag.replace(/^v/, '')}`;
    const dir = join(binRoot, `headscale-${version}`);
    if (!existsSync(join(dir, 'headscale'))) {
      return {
        pullError:
          `rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/${(image ?? '').replace(/^docker\.io\//, '')}": ` +
          `not found (the e2e toolchain has no ${join(dir, 'headscale')}; add the version to scripts/tools/versions.env)`,
      };
    }
    return { name: `headscale ${version}`, entrypoint: ['headscale'], pathDirs: [dir] };
  }
  const sh = SHELL.exec(image ?? '');
  if (sh?.[1]) return { name: sh[1], entrypoint: sh[1] === 'keinos/sqlite3' ? ['sqlite3'] : ['/bin/sh'], pathDirs: [] };
  return undefined;
}
