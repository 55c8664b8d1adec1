// Bad input, black-box: the built binary runs the mutating `install` (or the named command)
// against a config an operator could have written by hand. Each row is one mistake; the
// run must exit with the documented code, print one line naming the field, the value and
// the fix, and change nothing: kubectl, helm and tailscale are recorders that log any call,
// and the kubeconfig points at a closed port, so any contact would show in the log or as
// exit 2. The cluster-side rows (objects that exist but are not june-ts's) are in
// test/e2e/scenarios/bad-input.test.ts.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = resolve(__dirname, '../..', 'bin/june-ts.js');
const tmp = mkdtempSync(join(tmpdir(), 'june-ts-bad-input-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const CALLS = join(tmp, 'calls.log');
const recorders = join(tmp, 'bin');
mkdirSync(recorders);
for (const tool of ['kubectl', 'helm', 'tailscale']) {
  writeFileSync(join(recorders, tool), `#!/bin/sh\necho "${tool} $*" >> ${JSON.stringify(CALLS)}\nexit 1\n`);
  chmodSync(join(recorders, tool), 0o755);
}
const KUBECONFIG = join(tmp, 'kubeconfig');
writeFileSync(
  KUBECONFIG,
  [
    'apiVersion: v1',
    'kind: Config',
    'clusters: [{name: c, cluster: {server: "https://127.0.0.1:9"}}]',
    'users: [{name: u, user: {token: t}}]',
    'contexts: [{name: x, context: {cluster: c, user: u}}]',
    'current-context: x',
    '',
  ].join('\n'),
);

/** Files the rows point at. */
const A_FILE = join(tmp, 'Chart.tgz');
writeFileSync(A_FILE, 'not a directory');
const BROKEN_YAML = join(tmp, 'broken.yaml');
writeFileSync(BROKEN_YAML, 'services:\n  stt:\n    enabled: [true\n');
const LIST_YAML = join(tmp, 'list.yaml');
writeFileSync(LIST_YAML, '- services.stt.enabled=true\n');
const TAB_YAML = join(tmp, 'tab.yaml');
writeFileSync(TAB_YAML, 'services:\n\tstt:\n\t\tenabled: true\n');
const MISSING = join(tmp, 'missing.yaml');

const BASE: Record<string, string> = {
  HEADSCALE_DOMAIN: 'hs.example.com',
  KUBECONFIG,
  KUBECTL: join(recorders, 'kubectl'),
  HELM: join(recorders, 'helm'),
  TAILSCALE: join(recorders, 'tailscale'),
  HOST_HOSTNAME: 'june-host-1',
};

interface BadInput {
  /** The field or object that is wrong. */
  field: string;
  /** What is wrong with it. */
  what: string;
  /** Config lines over BASE (a key set to undefined is left out). */
  config?: Record<string, string | undefined>;
  /** Command and flags; default `install`. */
  args?: string[];
  code: number;
  /** The one line that names the field, the value and the fix. */
  line: string;
}

const LONG_NAME = 'a'.repeat(64);
const LONG_SERVICE = `s${'x'.repeat(40)}`;

// prettier-ignore
const BAD_INPUTS: BadInput[] = [
  { field: 'HEADSCALE_DOMAIN', what: 'a URL where a host is expected', config: { HEADSCALE_DOMAIN: 'https://hs.example.com' }, code: 3,
    line: "HEADSCALE_DOMAIN: 'https://hs.example.com' is not a DNS name — use e.g. headscale.example.com (no scheme, no port)" },
  { field: 'HEADSCALE_DOMAIN', what: 'host with a port', config: { HEADSCALE_DOMAIN: 'hs.example.com:8443' }, code: 3,
    line: "HEADSCALE_DOMAIN: 'hs.example.com:8443' is not a DNS name — use e.g. headscale.example.com (no scheme, no port)" },
  { field: 'HEADSCALE_DOMAIN', what: 'not a DNS name', config: { HEADSCALE_DOMAIN: 'hs_example' }, code: 3,
    line: "HEADSCALE_DOMAIN: 'hs_example' is not a DNS name — use e.g. headscale.example.com (no scheme, no port)" },
  { field: 'HEADSCALE_DOMAIN', what: 'misspelt key', config: { HEADSCALE_DOMAIN: undefined, HEADSCALE_DOMIAN: 'hs.example.com' }, code: 3,
    line: 'HEADSCALE_DOMIAN: unknown key — did you mean HEADSCALE_DOMAIN? Rename it to HEADSCALE_DOMAIN' },
  { field: 'HEADSCALE_URL', what: 'a host where a URL is expected', config: { HEADSCALE_URL: 'hs.example.com' }, code: 3,
    line: "HEADSCALE_URL: 'hs.example.com' is a host name, not a URL — use https://hs.example.com" },
  { field: 'HEADSCALE_URL', what: 'port out of range', config: { HEADSCALE_URL: 'https://hs.example.com:99999' }, code: 3,
    line: "HEADSCALE_URL: 'https://hs.example.com:99999' has port 99999, out of range — use a port from 1 to 65535, or none for 443" },
  { field: 'HEADSCALE_URL', what: 'URL with a path', config: { HEADSCALE_URL: 'https://hs.example.com/headscale' }, code: 3,
    line: "HEADSCALE_URL: 'https://hs.example.com/headscale' must be a bare server URL without a path, e.g. https://headscale.example.com" },
  { field: 'HEADSCALE_URL', what: 'http:// with a public host', config: { HEADSCALE_URL: 'http://hs.example.com' }, code: 3,
    line: "HEADSCALE_URL: 'http://hs.example.com' uses http:// with a public hostname; Tailscale clients then force port 443 — use https:// (http:// works only for localhost or private IPs)" },
  { field: 'HEADSCALE_URL', what: 'wrong scheme', config: { HEADSCALE_URL: 'grpc://hs.example.com' }, code: 3,
    line: "HEADSCALE_URL: 'grpc://hs.example.com' must start with https:// (or http:// for a loopback/private IP)" },
  { field: 'HEADSCALE_NAMESPACE', what: 'uppercase', config: { HEADSCALE_NAMESPACE: 'Headscale' }, code: 3,
    line: "HEADSCALE_NAMESPACE: 'Headscale' is not a Kubernetes name — use lowercase letters, digits and '-', at most 63 characters" },
  { field: 'HEADSCALE_NAMESPACE', what: '64 characters', config: { HEADSCALE_NAMESPACE: LONG_NAME }, code: 3,
    line: `HEADSCALE_NAMESPACE: '${LONG_NAME}' is not a Kubernetes name — use lowercase letters, digits and '-', at most 63 characters` },
  { field: 'HEADSCALE_NAMESPACE', what: 'misspelt key', config: { HEADSCALE_NAMESPCE: 'hs' }, code: 3,
    line: 'HEADSCALE_NAMESPCE: unknown key — did you mean HEADSCALE_NAMESPACE? Rename it to HEADSCALE_NAMESPACE' },
  { field: 'HEADSCALE_RELEASE', what: 'a dot in a release name', config: { HEADSCALE_RELEASE: 'head.scale' }, code: 3,
    line: "HEADSCALE_RELEASE: 'head.scale' is not a Kubernetes name — use lowercase letters, digits and '-', at most 63 characters" },
  { field: 'HEADSCALE_CHART', what: 'a file, not a chart directory', config: { HEADSCALE_CHART: A_FILE }, code: 3,
    line: `HEADSCALE_CHART: '${A_FILE}' is a file — point it at the chart's directory (the one holding Chart.yaml)` },
  { field: 'HEADSCALE_VALUES', what: 'a values file that does not parse', config: { HEADSCALE_VALUES: BROKEN_YAML }, code: 3,
    line: `HEADSCALE_VALUES: '${BROKEN_YAML}' is not valid YAML: ` },
  { field: 'HEADSCALE_VALUES', what: 'a values file that does not exist', config: { HEADSCALE_VALUES: MISSING }, code: 3,
    line: `HEADSCALE_VALUES: '${MISSING}' is not a file — fix the path (in config.env, relative to that file)` },
  { field: 'HEADSCALE_TRANSPORT', what: 'unknown transport', config: { HEADSCALE_TRANSPORT: 'grpc' }, code: 3,
    line: "HEADSCALE_TRANSPORT: 'grpc' is not a transport — use exec or api" },
  { field: 'HEADSCALE_API_KEY', what: 'missing with the api transport', config: { HEADSCALE_TRANSPORT: 'api' }, code: 3,
    line: 'HEADSCALE_API_KEY: is required when HEADSCALE_TRANSPORT=api — export HEADSCALE_API_KEY=… (from `headscale apikeys create`)' },
  { field: 'HEADSCALE_API_KEY', what: 'too short to be a key (value not echoed)', config: { HEADSCALE_TRANSPORT: 'api', HEADSCALE_API_KEY: 'abc' }, code: 3,
    line: 'HEADSCALE_API_KEY: the value is not an API key — create one with `headscale apikeys create`' },
  { field: 'HEADSCALE_API_URL', what: 'URL with a path', config: { HEADSCALE_API_URL: 'https://hs.example.com/api/v1' }, code: 3,
    line: "HEADSCALE_API_URL: 'https://hs.example.com/api/v1' must be a bare server URL without a path, e.g. https://headscale.example.com" },
  { field: 'ENABLE_TAILSCALE_SIDECARS', what: 'not a boolean', config: { ENABLE_TAILSCALE_SIDECARS: 'maybe' }, code: 3,
    line: "ENABLE_TAILSCALE_SIDECARS: 'maybe' is not a boolean — use true or false" },
  { field: 'ENABLE_TAILSCALE_SIDECARS', what: 'misspelt key', config: { ENABLE_TAILSCALE_SIDECAR: 'false' }, code: 3,
    line: 'ENABLE_TAILSCALE_SIDECAR: unknown key — did you mean ENABLE_TAILSCALE_SIDECARS? Rename it to ENABLE_TAILSCALE_SIDECARS' },
  { field: 'PLATFORM_NAMESPACE', what: 'underscore', config: { PLATFORM_NAMESPACE: 'june_services' }, code: 3,
    line: "PLATFORM_NAMESPACE: 'june_services' is not a Kubernetes name — use lowercase letters, digits and '-', at most 63 characters" },
  { field: 'PLATFORM_NAMESPACE', what: 'misspelt key', config: { PLATFORM_NAMESPCE: 'prod' }, code: 3,
    line: 'PLATFORM_NAMESPCE: unknown key — did you mean PLATFORM_NAMESPACE? Rename it to PLATFORM_NAMESPACE' },
  { field: 'PLATFORM_RELEASE', what: '64 characters', config: { PLATFORM_RELEASE: LONG_NAME }, code: 3,
    line: `PLATFORM_RELEASE: '${LONG_NAME}' is not a Kubernetes name — use lowercase letters, digits and '-', at most 63 characters` },
  { field: 'PLATFORM_CHART', what: 'a file, not a chart directory', config: { PLATFORM_CHART: A_FILE }, code: 3,
    line: `PLATFORM_CHART: '${A_FILE}' is a file — point it at the chart's directory (the one holding Chart.yaml)` },
  { field: 'PLATFORM_VALUES', what: 'a values file that is a YAML list', config: { PLATFORM_VALUES: LIST_YAML }, code: 3,
    line: `PLATFORM_VALUES: '${LIST_YAML}' is not a YAML mapping of values (e.g. \`services:\` at the top) — fix the file` },
  { field: 'PLATFORM_VALUES', what: 'a values file indented with tabs', config: { PLATFORM_VALUES: TAB_YAML }, code: 3,
    line: `PLATFORM_VALUES: '${TAB_YAML}' is not valid YAML: ` },
  { field: 'TAILSCALE_SERVICES', what: 'a service listed twice', config: { TAILSCALE_SERVICES: 'stt,idp,stt' }, code: 3,
    line: "TAILSCALE_SERVICES: 'stt' is listed twice — list each service once" },
  { field: 'TAILSCALE_SERVICES', what: 'an empty entry', config: { TAILSCALE_SERVICES: 'orchestrator,,idp' }, code: 3,
    line: "TAILSCALE_SERVICES: 'orchestrator,,idp' has an empty entry — remove the extra comma, e.g. orchestrator,idp" },
  { field: 'TAILSCALE_SERVICES', what: 'only commas', config: { TAILSCALE_SERVICES: "' , ,'" }, code: 3,
    line: 'TAILSCALE_SERVICES: is empty — list at least one service, e.g. orchestrator,idp' },
  { field: 'TAILSCALE_SERVICES', what: 'not a DNS label', config: { TAILSCALE_SERVICES: 'june_stt' }, code: 3,
    line: "TAILSCALE_SERVICES: 'june_stt' is not a service name — use lowercase letters, digits and '-', starting with a letter, at most 40 characters (e.g. orchestrator,idp,stt)" },
  { field: 'TAILSCALE_SERVICES', what: 'too long for june-<svc>-tailscale-state', config: { TAILSCALE_SERVICES: LONG_SERVICE }, code: 3,
    line: `TAILSCALE_SERVICES: '${LONG_SERVICE}' is not a service name — use lowercase letters, digits and '-', starting with a letter, at most 40 characters (e.g. orchestrator,idp,stt)` },
  { field: 'TAILSCALE_SERVICES', what: 'starts with a digit', config: { TAILSCALE_SERVICES: '2fa' }, code: 3,
    line: "TAILSCALE_SERVICES: '2fa' is not a service name — use lowercase letters, digits and '-', starting with a letter, at most 40 characters (e.g. orchestrator,idp,stt)" },
  { field: 'TAILSCALE_SERVICES', what: 'misspelt key', config: { TAILSCALE_SERVICE: 'stt' }, code: 3,
    line: 'TAILSCALE_SERVICE: unknown key — did you mean TAILSCALE_SERVICES? Rename it to TAILSCALE_SERVICES' },
  { field: 'TAILNET_DOMAIN', what: 'the Headscale host itself', config: { TAILNET_DOMAIN: 'hs.example.com' }, code: 3,
    line: "TAILNET_DOMAIN: 'hs.example.com' overlaps the Headscale host 'hs.example.com'; Headscale refuses a MagicDNS base domain that equals or contains its own host — use e.g. tail.example.com" },
  { field: 'TAILNET_DOMAIN', what: 'a URL where a domain is expected', config: { TAILNET_DOMAIN: 'https://tail.example.com' }, code: 3,
    line: "TAILNET_DOMAIN: 'https://tail.example.com' is not a DNS name — use e.g. tail.example.com" },
  { field: 'KEY_EXPIRATION', what: 'absurdly long', config: { KEY_EXPIRATION: '100000d' }, code: 3,
    line: "KEY_EXPIRATION: '100000d' is longer than the maximum 3650d — use e.g. 180d" },
  { field: 'KEY_EXPIRATION', what: 'zero', config: { KEY_EXPIRATION: '0d' }, code: 3,
    line: "KEY_EXPIRATION: '0d' is not a duration — use a positive number followed by h, d or w, e.g. 180d" },
  { field: 'KEY_EXPIRATION', what: 'negative', config: { KEY_EXPIRATION: '-180d' }, code: 3,
    line: "KEY_EXPIRATION: '-180d' is not a duration — use a positive number followed by h, d or w, e.g. 180d" },
  { field: 'KEY_EXPIRATION', what: 'a number without a unit', config: { KEY_EXPIRATION: '180' }, code: 3,
    line: "KEY_EXPIRATION: '180' is not a duration — use a positive number followed by h, d or w, e.g. 180d" },
  { field: 'KEY_EXPIRATION', what: 'a unit Headscale keys do not take', config: { KEY_EXPIRATION: '6mo' }, code: 3,
    line: "KEY_EXPIRATION: '6mo' is not a duration — use a positive number followed by h, d or w, e.g. 180d" },
  { field: 'KEY_EXPIRATION', what: 'misspelt key', config: { KEY_EXPIRATON: '90d' }, code: 3,
    line: 'KEY_EXPIRATON: unknown key — did you mean KEY_EXPIRATION? Rename it to KEY_EXPIRATION' },
  { field: 'KEY_RENEW_BEFORE', what: 'not shorter than KEY_EXPIRATION', config: { KEY_RENEW_BEFORE: '200d' }, code: 3,
    line: "KEY_RENEW_BEFORE: '200d' is not shorter than KEY_EXPIRATION '180d' — every run would mint new keys; use e.g. KEY_RENEW_BEFORE=30d with KEY_EXPIRATION=180d" },
  { field: 'KEY_RENEW_BEFORE', what: 'zero', config: { KEY_RENEW_BEFORE: '0h' }, code: 3,
    line: "KEY_RENEW_BEFORE: '0h' is not a duration — use a positive number followed by h, d or w, e.g. 30d" },
  { field: 'KEY_RETENTION', what: 'negative', config: { KEY_RETENTION: '-1d' }, code: 3,
    line: "KEY_RETENTION: '-1d' is not a duration — use a whole number followed by h, d or w, e.g. 30d" },
  { field: 'KEY_RETENTION', what: 'absurdly long', config: { KEY_RETENTION: '99999w' }, code: 3,
    line: "KEY_RETENTION: '99999w' is longer than the maximum 3650d — use e.g. 30d" },
  { field: 'AUTH_SECRET_NAME', what: 'uppercase and underscore', config: { AUTH_SECRET_NAME: 'Auth_Keys' }, code: 3,
    line: "AUTH_SECRET_NAME: 'Auth_Keys' is not a Secret name — use lowercase letters, digits, - and ." },
  { field: 'KUBE_CONTEXT', what: 'trailing space inside quotes', config: { KUBE_CONTEXT: '"prod "' }, code: 3,
    line: "KUBE_CONTEXT: 'prod ' has leading or trailing whitespace — remove it" },
  { field: 'HOST_HOSTNAME', what: 'not a hostname', config: { HOST_HOSTNAME: 'my_host' }, code: 3,
    line: "HOST_HOSTNAME: 'my_host' is not a hostname — use lowercase letters, digits and -" },
  { field: 'WAIT_TIMEOUT', what: 'zero', config: { WAIT_TIMEOUT: '0s' }, code: 3,
    line: "WAIT_TIMEOUT: '0s' is not a duration — use a positive number followed by s, m or h, e.g. 5m" },
  { field: 'WAIT_TIMEOUT', what: 'negative', config: { WAIT_TIMEOUT: '-5m' }, code: 3,
    line: "WAIT_TIMEOUT: '-5m' is not a duration — use a positive number followed by s, m or h, e.g. 5m" },
  { field: 'WAIT_TIMEOUT', what: 'absurdly long (beyond what a timer can wait)', config: { WAIT_TIMEOUT: '1000h' }, code: 3,
    line: "WAIT_TIMEOUT: '1000h' is longer than the maximum 24h — use e.g. 5m" },
  { field: 'WAIT_TIMEOUT', what: 'days, a unit waits do not take', config: { WAIT_TIMEOUT: '1d' }, code: 3,
    line: "WAIT_TIMEOUT: '1d' is not a duration — use a positive number followed by s, m or h, e.g. 5m" },
  { field: 'WAIT_TIMEOUT', what: 'misspelt key', config: { WAIT_TIMOUT: '10m' }, code: 3,
    line: 'WAIT_TIMOUT: unknown key — did you mean WAIT_TIMEOUT? Rename it to WAIT_TIMEOUT' },
  { field: '--skip', what: 'a phase id that does not exist', args: ['install', '--skip', '11.3'], code: 3,
    line: 'error: --skip 11.3: no such phase in `june-ts install`' },
  { field: '--service', what: 'a service not in TAILSCALE_SERVICES', args: ['rotate-keys', '--service', 'stt'], code: 3,
    line: 'error: --service stt: not in TAILSCALE_SERVICES (orchestrator, idp)' },
  { field: '--if-expiring-within', what: 'not a duration', args: ['rotate-keys', '--if-expiring-within', 'forever'], code: 3,
    line: "error: --if-expiring-within: 'forever' is not a duration — use a number followed by h, d or w, e.g. 30d" },
];

let n = 0;
function run(c: BadInput) {
  const dir = join(tmp, `case-${n++}`);
  mkdirSync(dir);
  const path = join(dir, 'config.env');
  const lines = Object.entries({ ...BASE, ...c.config }).filter((e): e is [string, string] => e[1] !== undefined);
  writeFileSync(path, lines.map(([k, v]) => `${k}=${v}`).join('\n') + '\n');
  const r = spawnSync(process.execPath, [BIN, ...(c.args ?? ['install']), '--config', path], {
    cwd: dir,
    env: { PATH: `${recorders}:${process.env.PATH ?? '/usr/bin:/bin'}`, HOME: dir, NO_COLOR: '1' },
    encoding: 'utf8',
    input: '',
    timeout: 30_000,
  });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

describe(`bad input (${BAD_INPUTS.length} cases): one line naming the field, the value and the fix; exit 3; nothing contacted`, () => {
  it('the table holds at least 40 distinct cases', () => {
    expect(BAD_INPUTS.length).toBeGreaterThanOrEqual(40);
    const keys = BAD_INPUTS.map((c) => JSON.stringify([c.config, c.args]));
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('control: a valid config does reach the recorders, so "nothing ran" below can fail', () => {
    rmSync(CALLS, { force: true });
    const r = run({ field: 'none', what: 'valid', code: 0, line: '' });
    expect(r.code, r.stderr).not.toBe(3);
    expect(readFileSync(CALLS, 'utf8')).toMatch(/^(helm|kubectl) /m);
  });

  for (const c of BAD_INPUTS) {
    it(`${c.field}: ${c.what}`, () => {
      rmSync(CALLS, { force: true });
      const r = run(c);
      expect(r.code, r.stderr).toBe(c.code);
      const lines = r.stderr.split('\n');
      expect(
        lines.some((l) => l.replace(/^\s*- /, '').startsWith(c.line)),
        r.stderr,
      ).toBe(true);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      // nothing ran: no kubectl, helm or tailscale, so nothing on any cluster or host changed
      expect(existsSync(CALLS) ? readFileSync(CALLS, 'utf8') : '').toBe('');
    });
  }
});
