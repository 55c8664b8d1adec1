// Headscale 0.26–0.27: what changed since 0.23 (./v023.ts): a user is referred to by numeric
// ID (`-u ID`, `?user=ID`, `--identifier ID`).
import { numericId } from '../common.js';
import type { HsUser, SyntaxGeneration } from '../types.js';
import { JSON_OUTPUT, type OpenApiDefinitions, type Request } from './request.js';
import { V023 } from './v023.js';

/** 0.26–0.27: users are referred to by numeric id. */
export class V026 extends V023 {
  override readonly generation: SyntaxGeneration = 'v026';
  override readonly refersToUsersById: boolean = true;

  override userRef(user: HsUser): string {
    return numericId(user);
  }

  /** `-u, --user uint`. */
  override recognisesHelp(help: string): boolean {
    return /--user uint/.test(help);
  }

  /** A key's `user` is a nested User. */
  override recognisesOpenApi(defs: OpenApiDefinitions): boolean {
    return Boolean(defs['v1PreAuthKey']?.properties?.['user']?.$ref);
  }

  override deleteUser(user: HsUser): Request<void> {
    return { ...super.deleteUser(user), cli: { args: ['users', 'destroy', '--identifier', numericId(user), '--force', ...JSON_OUTPUT] } };
  }
}
