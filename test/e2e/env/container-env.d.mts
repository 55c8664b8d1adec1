// Types for container-env.mjs.
export interface EnvSources {
  serviceEnv: Record<string, string>;
  /** decoded data, or undefined when the Secret does not exist */
  secret(namespace: string, name: string): Promise<Record<string, string> | undefined>;
  configMap(namespace: string, name: string): Promise<Record<string, string> | undefined>;
}
export declare function expandRefs(value: string, vars: Record<string, string>): string;
export declare function fieldValue(pod: unknown, path: string): string | undefined;
export declare function kubernetesServiceEnv(o: { host: string; port: number }): Record<string, string>;
/** error: the kubelet's CreateContainerConfigError message; env then holds what did resolve */
export declare function containerEnv(
  pod: unknown,
  container: unknown,
  src: EnvSources,
): Promise<{ env: Record<string, string>; error?: string }>;
