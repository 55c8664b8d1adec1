// Types for test/e2e/env/headscale.mjs.

export const BASE_DOMAIN: string;

export function headscaleConfig(
  version: string,
  o: { dir: string; port: number; metricsPort: number; grpcPort: number; stunPort: number },
): string;

export interface StandaloneHeadscale {
  version: string;
  /** server_url, http://127.0.0.1:PORT */
  url: string;
  apiUrl: string;
  /** '' unless created at start */
  apiKey: string;
  configPath: string;
  dir: string;
  bin: string;
  /** stdout+stderr of `headscale serve` */
  logFile: string;
  socket: string;
  /** `headscale -c config …`; resolves with stdout, rejects with stderr */
  cli(args: string[]): Promise<string>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** stop() and remove dir */
  destroy(): Promise<void>;
}

export function startHeadscale(o: {
  version: string;
  bin: string;
  dir: string;
  logsDir: string;
  apiKey?: boolean;
}): Promise<StandaloneHeadscale>;
