import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FIELDS } from '../../src/config/fields.js';
import { BUNDLED_CHARTS, loadConfig, type Config } from '../../src/config/load.js';
import type { LoadOptions } from '../../src/config/sources.js';
import { ConfigError } from '../../src/errors.js';
import { expectUsageError } from '../helpers/errors.js';

const tmp = mkdtempSync(join(tmpdir(), 'june-ts-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const V1 = join(tmp, 'v1.yaml');
const V2 = join(tmp, 'v2.yaml');
writeFileSync(V1, 'a: 1\n');
writeFileSync(V2, 'b: 2\n');
let n = 0;

/** Writes `text` to a fresh config file and loads it with an empty environment. */
function fromFile(text: string, options: LoadOptions = {}): Config {
  const dir = join(tmp, `case-${n++}`);
  mkdirSync(dir);
  const path = join(dir, 'config.env');
  writeFileSync(path, text);
  return loadConfig({ configPath: path, env: {}, cwd: dir, ...options });
}

const BASE = 'HEADSCALE_DOMAIN=headscale.example.com\n';

function problemsOf(fn: () => unknown): string[] {
  return [...expectUsageError(fn, ConfigError).problems];
}

interface FieldCase {
  key: string;
  /** An accepted value and how it shows in the resolved Config. */
  ok: [string, (c: Config) => unknown, unknown];
  /** Rejected values (as written in the file, so quotes keep spaces) and the exact message. */
  bad: [string, string][];
}

const CASES: FieldCase[] = [
  {
    key: 'HEADSCALE_DOMAIN',
    ok: ['hs.corp.example.org', (c) => [c.headscale.domain, c.headscale.url], ['hs.corp.example.org', 'https://hs.corp.example.org']],
    bad: [
      ['bad_domain', "HEADSCALE_DOMAIN: 'bad_domain' is not a DNS name — use e.g. headscale.example.com (no scheme, no port)"],
      [
        'https://hs.example.com',
        "HEADSCALE_DOMAIN: 'https://hs.example.com' is not a DNS name — use e.g. headscale.example.com (no scheme, no port)",
      ],
      [
        'hs.example.com:443',
        "HEADSCALE_DOMAIN: 'hs.example.com:443' is not a DNS name — use e.g. headscale.example.com (no scheme, no port)",
      ],
    ],
  },
  {
    key: 'HEADSCALE_URL',
    ok: ['https://control.example.net/', (c) => c.headscale.url, 'https://control.example.net'],
    bad: [
      ['not a url', "HEADSCALE_URL: 'not a url' is not a URL — use https://headscale.example.com"],
      ['ftp://hs.example.com', "HEADSCALE_URL: 'ftp://hs.example.com' must start with https:// (or http:// for a loopback/private IP)"],
      [
        'http://hs.example.com',
        "HEADSCALE_URL: 'http://hs.example.com' uses http:// with a public hostname; Tailscale clients then force port 443 — use https:// (http:// works only for localhost or private IPs)",
      ],
      [
        'https://hs.example.com/headscale',
        "HEADSCALE_URL: 'https://hs.example.com/headscale' must be a bare server URL without a path, e.g. https://headscale.example.com",
      ],
    ],
  },
  {
    key: 'HEADSCALE_NAMESPACE',
    ok: ['hs-system', (c) => c.headscale.namespace, 'hs-system'],
    bad: [
      [
        'Headscale',
        "HEADSCALE_NAMESPACE: 'Headscale' is not a Kubernetes name — use lowercase letters, digits and '-', at most 63 characters",
      ],
      ['-hs', "HEADSCALE_NAMESPACE: '-hs' is not a Kubernetes name — use lowercase letters, digits and '-', at most 63 characters"],
    ],
  },
  {
    key: 'HEADSCALE_RELEASE',
    ok: ['hs2', (c) => c.headscale.release, 'hs2'],
    bad: [
      [
        `${'r'.repeat(64)}`,
        `HEADSCALE_RELEASE: '${'r'.repeat(64)}' is not a Kubernetes name — use lowercase letters, digits and '-', at most 63 characters`,
      ],
    ],
  },
  {
    key: 'HEADSCALE_CHART',
    ok: ['/opt/charts/headscale', (c) => c.headscale.chart, '/opt/charts/headscale'],
    bad: [['"  "', "HEADSCALE_CHART: '  ' has leading or trailing whitespace — remove it"]],
  },
  {
    key: 'HEADSCALE_VALUES',
    ok: [`${V1} , ${V2}`, (c) => c.headscale.valuesFiles, [V1, V2]],
    bad: [
      [
        `${V1},${tmp}/missing.yaml`,
        `HEADSCALE_VALUES: '${tmp}/missing.yaml' is not a file — fix the path (in config.env, relative to that file)`,
      ],
      [tmp, `HEADSCALE_VALUES: '${tmp}' is not a file — fix the path (in config.env, relative to that file)`],
    ],
  },
  {
    key: 'HEADSCALE_VERSION',
    ok: ['v0.28.0', (c) => c.headscale.version, '0.28.0'],
    bad: [
      ['0.29', "HEADSCALE_VERSION: '0.29' is not a Headscale release version — use e.g. 0.29.3"],
      ['latest', "HEADSCALE_VERSION: 'latest' is not a Headscale release version — use e.g. 0.29.3"],
    ],
  },
  {
    key: 'HEADSCALE_BACKUP_DIR',
    ok: ['/srv/backups', (c) => c.headscale.backupDir, '/srv/backups'],
    bad: [['" x"', "HEADSCALE_BACKUP_DIR: ' x' has leading or trailing whitespace — remove it"]],
  },
  {
    key: 'HEADSCALE_BACKUP_IMAGE',
    ok: ['registry.local/sqlite3:3.47', (c) => c.headscale.backupImage, 'registry.local/sqlite3:3.47'],
    bad: [['"a b"', "HEADSCALE_BACKUP_IMAGE: 'a b' is not an image reference — use e.g. keinos/sqlite3:latest"]],
  },
  {
    key: 'HEADSCALE_TRANSPORT',
    ok: ['exec', (c) => c.headscale.transport, 'exec'],
    bad: [
      ['grpc', "HEADSCALE_TRANSPORT: 'grpc' is not a transport — use exec or api"],
      ['API', "HEADSCALE_TRANSPORT: 'API' is not a transport — use exec or api"],
    ],
  },
  {
    key: 'HEADSCALE_API_URL',
    ok: ['http://10.0.0.7:8080', (c) => c.headscale.apiUrl, 'http://10.0.0.7:8080'],
    bad: [
      [
        'http://api.example.com',
        "HEADSCALE_API_URL: 'http://api.example.com' uses http:// with a public hostname; Tailscale clients then force port 443 — use https:// (http:// works only for localhost or private IPs)",
      ],
    ],
  },
  {
    key: 'HEADSCALE_API_KEY',
    ok: ['kEy0123456789abc', (c) => c.headscale.apiKey, 'kEy0123456789abc'],
    bad: [
      ['short', 'HEADSCALE_API_KEY: the value is not an API key — create one with `headscale apikeys create`'],
      ['"has some spaces"', 'HEADSCALE_API_KEY: the value is not an API key — create one with `headscale apikeys create`'],
    ],
  },
  {
    key: 'ENABLE_TAILSCALE_SIDECARS',
    ok: ['Off', (c) => c.sidecarsEnabled, false],
    bad: [['maybe', "ENABLE_TAILSCALE_SIDECARS: 'maybe' is not a boolean — use true or false"]],
  },
  {
    key: 'PLATFORM_NAMESPACE',
    ok: ['june', (c) => c.platform.namespace, 'june'],
    bad: [
      [
        'june_services',
        "PLATFORM_NAMESPACE: 'june_services' is not a Kubernetes name — use lowercase letters, digits and '-', at most 63 characters",
      ],
    ],
  },
  {
    key: 'PLATFORM_RELEASE',
    ok: ['jp', (c) => c.platform.release, 'jp'],
    bad: [
      [
        'june.platform',
        "PLATFORM_RELEASE: 'june.platform' is not a Kubernetes name — use lowercase letters, digits and '-', at most 63 characters",
      ],
    ],
  },
  {
    key: 'PLATFORM_CHART',
    ok: ['/srv/june-platform', (c) => c.platform.chart, '/srv/june-platform'],
    bad: [['" /srv/june-platform"', "PLATFORM_CHART: ' /srv/june-platform' has leading or trailing whitespace — remove it"]],
  },
  {
    key: 'PLATFORM_VALUES',
    ok: [V2, (c) => c.platform.valuesFiles, [V2]],
    bad: [[`${tmp}/nope.yaml`, `PLATFORM_VALUES: '${tmp}/nope.yaml' is not a file — fix the path (in config.env, relative to that file)`]],
  },
  {
    key: 'TAILSCALE_SERVICES',
    ok: [' orchestrator , stt,idp ', (c) => c.services, ['orchestrator', 'stt', 'idp']],
    bad: [
      [
        'orchestrator,Idp',
        "TAILSCALE_SERVICES: 'Idp' is not a service name — use lowercase letters, digits and '-', starting with a letter, at most 40 characters (e.g. orchestrator,idp,stt)",
      ],
      [
        '1stt',
        "TAILSCALE_SERVICES: '1stt' is not a service name — use lowercase letters, digits and '-', starting with a letter, at most 40 characters (e.g. orchestrator,idp,stt)",
      ],
      [
        `${'s'.repeat(41)}`,
        `TAILSCALE_SERVICES: '${'s'.repeat(41)}' is not a service name — use lowercase letters, digits and '-', starting with a letter, at most 40 characters (e.g. orchestrator,idp,stt)`,
      ],
      [' , ,', 'TAILSCALE_SERVICES: is empty — list at least one service, e.g. orchestrator,idp'],
      ['idp,stt,idp', "TAILSCALE_SERVICES: 'idp' is listed twice — list each service once"],
    ],
  },
  {
    key: 'TAILNET_IDENTITY',
    ok: ['tag', (c) => c.tailnetIdentity, 'tag'],
    bad: [
      ['tags', "TAILNET_IDENTITY: 'tags' is not an identity — use user (one Headscale user per service) or tag (Headscale 0.28+)"],
      ['User', "TAILNET_IDENTITY: 'User' is not an identity — use user (one Headscale user per service) or tag (Headscale 0.28+)"],
    ],
  },
  {
    key: 'TAILNET_DOMAIN',
    ok: ['ts.internal.example', (c) => c.tailnetDomain, 'ts.internal.example'],
    bad: [['tailnet', "TAILNET_DOMAIN: 'tailnet' is not a DNS name — use e.g. tail.example.com"]],
  },
  {
    key: 'TAILNET_POLICY',
    ok: ['adopt', (c) => c.policy.mode, 'adopt'],
    bad: [['replace', "TAILNET_POLICY: 'replace' is not a policy mode — use managed, adopt or off"]],
  },
  {
    key: 'TAILNET_ADMINS',
    ok: [' alice, bob@example.com,alice ', (c) => c.policy.admins, ['alice', 'bob@example.com']],
    bad: [
      ['alice,1bob', "TAILNET_ADMINS: '1bob' is not a Headscale user name — use e.g. alice or alice@example.com"],
      ['a@b@c', "TAILNET_ADMINS: 'a@b@c' is not a Headscale user name — use e.g. alice or alice@example.com"],
    ],
  },
  {
    key: 'TAILNET_EDGES',
    ok: ['orchestrator->idp, orchestrator -> idp', (c) => c.policy.edges, [{ from: 'orchestrator', to: 'idp' }]],
    bad: [
      [
        'orchestrator=>idp',
        "TAILNET_EDGES: 'orchestrator=>idp' is not an edge — use FROM->TO between two services, e.g. orchestrator->idp",
      ],
      ['idp->idp', "TAILNET_EDGES: 'idp->idp' is not an edge — use FROM->TO between two services, e.g. orchestrator->idp"],
      [
        'orchestrator->stt',
        "TAILNET_EDGES: orchestrator->stt names 'stt', which is not in TAILSCALE_SERVICES (orchestrator, idp) — add it there or remove the edge",
      ],
    ],
  },
  {
    key: 'KEY_EXPIRATION',
    ok: ['52w', (c) => c.keyExpiration, '52w'],
    bad: [
      ['6mo', "KEY_EXPIRATION: '6mo' is not a duration — use a positive number followed by h, d or w, e.g. 180d"],
      ['0d', "KEY_EXPIRATION: '0d' is not a duration — use a positive number followed by h, d or w, e.g. 180d"],
    ],
  },
  {
    key: 'KEY_RENEW_BEFORE',
    ok: ['36h', (c) => c.keyRenewBeforeMs, 36 * 3600_000],
    bad: [['30m', "KEY_RENEW_BEFORE: '30m' is not a duration — use a positive number followed by h, d or w, e.g. 30d"]],
  },
  {
    key: 'KEY_RETENTION',
    ok: ['0h', (c) => c.keyRetentionMs, 0],
    bad: [
      ['-1d', "KEY_RETENTION: '-1d' is not a duration — use a whole number followed by h, d or w, e.g. 30d"],
      ['7days', "KEY_RETENTION: '7days' is not a duration — use a whole number followed by h, d or w, e.g. 30d"],
    ],
  },
  {
    key: 'AUTH_SECRET_NAME',
    ok: ['june.auth-keys', (c) => c.authSecretName, 'june.auth-keys'],
    bad: [['Auth_Keys', "AUTH_SECRET_NAME: 'Auth_Keys' is not a Secret name — use lowercase letters, digits, - and ."]],
  },
  {
    key: 'KUBECONFIG',
    ok: ['/etc/kube/admin.conf', (c) => c.kube.kubeconfig, '/etc/kube/admin.conf'],
    bad: [['" /etc/kube/admin.conf"', "KUBECONFIG: ' /etc/kube/admin.conf' has leading or trailing whitespace — remove it"]],
  },
  {
    key: 'KUBE_CONTEXT',
    ok: ['kind-june', (c) => c.kube.context, 'kind-june'],
    bad: [['"kind-june "', "KUBE_CONTEXT: 'kind-june ' has leading or trailing whitespace — remove it"]],
  },
  {
    key: 'KUBECTL',
    ok: ['/usr/local/bin/kubectl', (c) => c.kube.kubectl, '/usr/local/bin/kubectl'],
    bad: [['"  "', "KUBECTL: '  ' has leading or trailing whitespace — remove it"]],
  },
  {
    key: 'HELM',
    ok: ['helm4', (c) => c.helm, 'helm4'],
    bad: [['" helm"', "HELM: ' helm' has leading or trailing whitespace — remove it"]],
  },
  {
    key: 'TAILSCALE',
    ok: ['/opt/ts/tailscale', (c) => c.tailscale.bin, '/opt/ts/tailscale'],
    bad: [['"\t"', "TAILSCALE: '\t' has leading or trailing whitespace — remove it"]],
  },
  {
    key: 'TAILSCALE_SOCKET',
    ok: ['/run/ts.sock', (c) => c.tailscale.socket, '/run/ts.sock'],
    bad: [['"/run/ts.sock "', "TAILSCALE_SOCKET: '/run/ts.sock ' has leading or trailing whitespace — remove it"]],
  },
  {
    key: 'HOST_HOSTNAME',
    ok: ['june-host-7', (c) => c.hostHostname, 'june-host-7'],
    bad: [
      ['June_Host', "HOST_HOSTNAME: 'June_Host' is not a hostname — use lowercase letters, digits and -"],
      [`${'h'.repeat(64)}`, `HOST_HOSTNAME: '${'h'.repeat(64)}' is not a hostname — use lowercase letters, digits and -`],
    ],
  },
  {
    key: 'WAIT_TIMEOUT',
    ok: ['90s', (c) => c.waitTimeoutMs, 90_000],
    bad: [
      ['5d', "WAIT_TIMEOUT: '5d' is not a duration — use a positive number followed by s, m or h, e.g. 5m"],
      ['0m', "WAIT_TIMEOUT: '0m' is not a duration — use a positive number followed by s, m or h, e.g. 5m"],
    ],
  },
];

describe('every field in FIELDS', () => {
  it('has a case here (a new field needs accepted and rejected values)', () => {
    expect(CASES.map((c) => c.key).sort()).toEqual(FIELDS.map((f) => f.key).sort());
  });

  for (const { key, ok, bad } of CASES) {
    // HEADSCALE_DOMAIN/HEADSCALE_URL are tested without the base domain where it would mask them.
    const base = key === 'HEADSCALE_DOMAIN' ? '' : BASE;
    it(`${key}: accepts ${JSON.stringify(ok[0])}`, () => {
      const c = fromFile(`${base}${key}=${ok[0]}\n`);
      expect(ok[1](c)).toEqual(ok[2]);
      expect(c.sources[key]).toBe('file');
    });
    for (const [value, message] of bad) {
      it(`${key}: rejects ${JSON.stringify(value)}`, () => {
        expect(problemsOf(() => fromFile(`${base}${key}=${value}\n`))).toEqual([message]);
      });
    }
  }
});

describe('defaults and derived values', () => {
  it('uses the defaults of every field not set', () => {
    const c = fromFile(BASE, { env: { HOST_HOSTNAME: 'h1' } });
    expect(c.headscale).toEqual({
      domain: 'headscale.example.com',
      url: 'https://headscale.example.com',
      namespace: 'headscale',
      release: 'headscale',
      chart: BUNDLED_CHARTS.headscale,
      valuesFiles: [],
      version: undefined,
      backupDir: 'headscale-backups',
      backupImage: 'keinos/sqlite3:latest',
      transport: 'exec',
      apiUrl: 'https://headscale.example.com',
      apiKey: undefined,
    });
    expect(c.platform).toEqual({ namespace: 'june-services', release: 'june-platform', chart: BUNDLED_CHARTS.platform, valuesFiles: [] });
    expect(c.sidecarsEnabled).toBe(true);
    expect(c.services).toEqual(['orchestrator', 'idp']);
    expect(c.tailnetIdentity).toBe('user');
    expect(c.tailnetDomain).toBe('tail.example.com');
    expect(c.keyExpiration).toBe('180d');
    expect(c.keyRenewBeforeMs).toBe(30 * 86_400_000);
    expect(c.authSecretName).toBe('headscale-auth-keys');
    expect(c.kube).toEqual({ kubeconfig: undefined, context: undefined, kubectl: 'kubectl' });
    expect(c.helm).toBe('helm');
    expect(c.tailscale).toEqual({ bin: 'tailscale', socket: undefined });
    expect(c.waitTimeoutMs).toBe(300_000);
  });

  it('documents in FIELDS the defaults the loader uses', () => {
    const c = fromFile(BASE, { env: { HOST_HOSTNAME: 'h1' } });
    const doc = Object.fromEntries(FIELDS.map((f) => [f.key, f.default]));
    expect(doc.HEADSCALE_NAMESPACE).toBe(c.headscale.namespace);
    expect(doc.HEADSCALE_RELEASE).toBe(c.headscale.release);
    expect(doc.HEADSCALE_TRANSPORT).toBe(c.headscale.transport);
    expect(doc.PLATFORM_NAMESPACE).toBe(c.platform.namespace);
    expect(doc.PLATFORM_RELEASE).toBe(c.platform.release);
    expect(doc.TAILSCALE_SERVICES).toBe(c.services.join(','));
    expect(doc.TAILNET_IDENTITY).toBe(c.tailnetIdentity);
    expect(doc.KEY_EXPIRATION).toBe(c.keyExpiration);
    expect(doc.AUTH_SECRET_NAME).toBe(c.authSecretName);
    expect(doc.KUBECTL).toBe(c.kube.kubectl);
    expect(doc.HELM).toBe(c.helm);
    expect(doc.TAILSCALE).toBe(c.tailscale.bin);
    expect(doc.ENABLE_TAILSCALE_SIDECARS).toBe(String(c.sidecarsEnabled));
  });

  it('HEADSCALE_URL defaults to https://$HEADSCALE_DOMAIN, and HEADSCALE_API_URL to HEADSCALE_URL', () => {
    const c = fromFile('HEADSCALE_DOMAIN=vpn.acme.io\n');
    expect(c.headscale.url).toBe('https://vpn.acme.io');
    expect(c.headscale.apiUrl).toBe('https://vpn.acme.io');
    const d = fromFile('HEADSCALE_DOMAIN=vpn.acme.io\nHEADSCALE_URL=https://login.acme.io\n');
    expect(d.headscale.url).toBe('https://login.acme.io');
    expect(d.headscale.apiUrl).toBe('https://login.acme.io');
  });

  it('HEADSCALE_DOMAIN is required unless HEADSCALE_URL is set', () => {
    expect(problemsOf(() => fromFile('HEADSCALE_NAMESPACE=hs\n'))).toEqual([
      'HEADSCALE_DOMAIN: is required — set HEADSCALE_DOMAIN=headscale.example.com (or HEADSCALE_URL)',
    ]);
    expect(fromFile('HEADSCALE_URL=https://hs.acme.io\n').headscale.url).toBe('https://hs.acme.io');
  });

  it('http:// is accepted for loopback and private addresses only', () => {
    for (const url of [
      'http://127.0.0.1:8080',
      'http://localhost:8080',
      'http://[::1]:8080',
      'http://10.1.2.3',
      'http://172.16.0.1',
      'http://192.168.1.10:8080',
      'http://100.64.0.1',
    ]) {
      expect(fromFile(`HEADSCALE_URL=${url}\n`).headscale.url).toBe(url);
    }
    for (const url of ['http://8.8.8.8', 'http://172.32.0.1', 'http://headscale.example.com:8080']) {
      expect(problemsOf(() => fromFile(`HEADSCALE_URL=${url}\n`))).toEqual([
        `HEADSCALE_URL: '${url}' uses http:// with a public hostname; Tailscale clients then force port 443 — use https:// (http:// works only for localhost or private IPs)`,
      ]);
    }
  });

  it('TAILNET_DOMAIN defaults to tail.<parent of the Headscale host>', () => {
    expect(fromFile('HEADSCALE_DOMAIN=headscale.ozzu.world\n').tailnetDomain).toBe('tail.ozzu.world');
    expect(fromFile('HEADSCALE_DOMAIN=hs.eu.corp.example\n').tailnetDomain).toBe('tail.eu.corp.example');
    expect(fromFile('HEADSCALE_URL=https://login.acme.io\n').tailnetDomain).toBe('tail.acme.io');
    // no parent domain: a two-label name, or an IP address
    expect(fromFile('HEADSCALE_DOMAIN=acme.io\n').tailnetDomain).toBe('tail.june.internal');
    expect(fromFile('HEADSCALE_URL=http://127.0.0.1:8080\n').tailnetDomain).toBe('tail.june.internal');
    expect(fromFile('HEADSCALE_URL=http://192.168.1.10\n').tailnetDomain).toBe('tail.june.internal');
  });

  it('rejects a TAILNET_DOMAIN that equals, contains or lies inside the Headscale host', () => {
    const msg = (t: string, h: string, suggestion: string) =>
      `TAILNET_DOMAIN: '${t}' overlaps the Headscale host '${h}'; Headscale refuses a MagicDNS base domain that equals or contains its own host — use e.g. ${suggestion}`;
    expect(problemsOf(() => fromFile('HEADSCALE_DOMAIN=hs.acme.io\nTAILNET_DOMAIN=hs.acme.io\n'))).toEqual([
      msg('hs.acme.io', 'hs.acme.io', 'tail.acme.io'),
    ]);
    expect(problemsOf(() => fromFile('HEADSCALE_DOMAIN=hs.acme.io\nTAILNET_DOMAIN=acme.io\n'))).toEqual([
      msg('acme.io', 'hs.acme.io', 'tail.acme.io'),
    ]);
    expect(problemsOf(() => fromFile('HEADSCALE_DOMAIN=hs.acme.io\nTAILNET_DOMAIN=ts.hs.acme.io\n'))).toEqual([
      msg('ts.hs.acme.io', 'hs.acme.io', 'tail.acme.io'),
    ]);
    // the derived default overlaps when the server is a bare two-label name under the parent: acme.io → tail.june.internal, fine
    expect(fromFile('HEADSCALE_DOMAIN=hs.acme.io\nTAILNET_DOMAIN=tail.acme.io\n').tailnetDomain).toBe('tail.acme.io');
    // a sibling that merely shares a suffix string is not an overlap
    expect(fromFile('HEADSCALE_DOMAIN=hs.acme.io\nTAILNET_DOMAIN=xhs.acme.io\n').tailnetDomain).toBe('xhs.acme.io');
  });

  it('rejects KEY_RENEW_BEFORE that is not shorter than KEY_EXPIRATION', () => {
    const msg = (r: string, e: string) =>
      `KEY_RENEW_BEFORE: '${r}' is not shorter than KEY_EXPIRATION '${e}' — every run would mint new keys; use e.g. KEY_RENEW_BEFORE=30d with KEY_EXPIRATION=180d`;
    expect(problemsOf(() => fromFile(`${BASE}KEY_RENEW_BEFORE=180d\n`))).toEqual([msg('180d', '180d')]);
    expect(problemsOf(() => fromFile(`${BASE}KEY_EXPIRATION=7d\nKEY_RENEW_BEFORE=1w\n`))).toEqual([msg('1w', '7d')]);
    expect(problemsOf(() => fromFile(`${BASE}KEY_EXPIRATION=48h\nKEY_RENEW_BEFORE=3d\n`))).toEqual([msg('3d', '48h')]);
    expect(fromFile(`${BASE}KEY_EXPIRATION=7d\nKEY_RENEW_BEFORE=167h\n`).keyRenewBeforeMs).toBe(167 * 3600_000);
  });

  it('HEADSCALE_TRANSPORT=api needs HEADSCALE_API_KEY', () => {
    expect(problemsOf(() => fromFile(`${BASE}HEADSCALE_TRANSPORT=api\n`))).toEqual([
      'HEADSCALE_API_KEY: is required when HEADSCALE_TRANSPORT=api — export HEADSCALE_API_KEY=… (from `headscale apikeys create`)',
    ]);
    const c = fromFile(`${BASE}HEADSCALE_TRANSPORT=api\n`, { env: { HEADSCALE_API_KEY: 'abcdefgh12345678' } });
    expect(c.headscale.transport).toBe('api');
    expect(c.headscale.apiKey).toBe('abcdefgh12345678');
  });

  it('a relative chart path in the file is relative to the file; from the environment, to the cwd', () => {
    const dir = join(tmp, 'charts-rel');
    mkdirSync(join(dir, 'conf'), { recursive: true });
    writeFileSync(join(dir, 'conf', 'config.env'), `${BASE}HEADSCALE_CHART=charts/hs\nHEADSCALE_VALUES=hs.yaml\n`);
    writeFileSync(join(dir, 'conf', 'hs.yaml'), 'x: 1\n');
    writeFileSync(join(dir, 'jp.yaml'), 'y: 1\n');
    const c = loadConfig({ configPath: 'conf/config.env', cwd: dir, env: { PLATFORM_CHART: 'charts/jp', PLATFORM_VALUES: 'jp.yaml' } });
    expect(c.headscale.chart).toBe(resolve(dir, 'conf', 'charts/hs'));
    expect(c.headscale.valuesFiles).toEqual([resolve(dir, 'conf', 'hs.yaml')]);
    expect(c.platform.chart).toBe(resolve(dir, 'charts/jp'));
    expect(c.platform.valuesFiles).toEqual([resolve(dir, 'jp.yaml')]);
    expect(c.configPath).toBe(resolve(dir, 'conf', 'config.env'));
  });
});

describe('precedence: flags > environment > file > defaults', () => {
  const file = `${BASE}KUBECONFIG=/from/file\nKUBE_CONTEXT=file-ctx\nKUBECTL=kubectl-file\n`;
  it('picks each value from the highest source that sets it, and records the source', () => {
    const c = fromFile(file, {
      env: { KUBECONFIG: '/from/env', KUBE_CONTEXT: 'env-ctx', HELM: 'helm-env' },
      flags: { KUBECONFIG: '/from/flag', KUBE_CONTEXT: undefined },
    });
    expect(c.kube.kubeconfig).toBe('/from/flag');
    expect(c.kube.context).toBe('env-ctx');
    expect(c.kube.kubectl).toBe('kubectl-file');
    expect(c.helm).toBe('helm-env');
    expect(c.tailscale.bin).toBe('tailscale');
    expect(c.sources).toMatchObject({
      KUBECONFIG: 'flag',
      KUBE_CONTEXT: 'env',
      KUBECTL: 'file',
      HELM: 'env',
      TAILSCALE: 'default',
      HEADSCALE_DOMAIN: 'file',
    });
    expect(Object.keys(c.sources).sort()).toEqual(FIELDS.map((f) => f.key).sort());
  });

  it('an empty value counts as unset and falls through to the next source', () => {
    const c = fromFile(file, { env: { KUBECONFIG: '' }, flags: { KUBECONFIG: '' } });
    expect(c.kube.kubeconfig).toBe('/from/file');
    expect(c.sources.KUBECONFIG).toBe('file');
    const d = fromFile(`${BASE}HEADSCALE_NAMESPACE=\n`);
    expect(d.headscale.namespace).toBe('headscale');
    expect(d.sources.HEADSCALE_NAMESPACE).toBe('default');
  });

  it('an invalid file value is not reported when the environment overrides it', () => {
    const c = fromFile(`${BASE}HEADSCALE_NAMESPACE=Bad_Name\n`, { env: { HEADSCALE_NAMESPACE: 'ok-ns' } });
    expect(c.headscale.namespace).toBe('ok-ns');
    expect(problemsOf(() => fromFile(`${BASE}HEADSCALE_NAMESPACE=ok-ns\n`, { env: { HEADSCALE_NAMESPACE: 'Bad_Name' } }))).toHaveLength(1);
  });
});

describe('error reporting', () => {
  it('reports every bad field, one line each, in one ConfigError', () => {
    const err = expectUsageError(
      () =>
        fromFile(
          'HEADSCALE_DOMAIN=bad_domain\nHEADSCALE_NAMESPACE=Bad\nWAIT_TIMEOUT=0s\nKEY_EXPIRATION=soon\nENABLE_TAILSCALE_SIDECARS=perhaps\n',
        ),
      ConfigError,
    );
    expect(err.problems).toHaveLength(5);
    const keys = err.problems.map((p) => p.split(':')[0]);
    expect(new Set(keys)).toEqual(
      new Set(['HEADSCALE_DOMAIN', 'HEADSCALE_NAMESPACE', 'WAIT_TIMEOUT', 'KEY_EXPIRATION', 'ENABLE_TAILSCALE_SIDECARS']),
    );
    expect(err.message.split('\n')).toEqual(['invalid configuration:', ...err.problems.map((p) => `  - ${p}`)]);
    expect(err.hint).toContain('fix ');
    expect(err.hint).toContain('config.env');
  });

  it('reports a missing HEADSCALE_DOMAIN together with other bad fields', () => {
    const problems = problemsOf(() => fromFile('HEADSCALE_NAMESPACE=Bad\nHEADSCALE_TRANSPORT=api\n'));
    expect(problems).toEqual(
      expect.arrayContaining([
        "HEADSCALE_NAMESPACE: 'Bad' is not a Kubernetes name — use lowercase letters, digits and '-', at most 63 characters",
        'HEADSCALE_DOMAIN: is required — set HEADSCALE_DOMAIN=headscale.example.com (or HEADSCALE_URL)',
        'HEADSCALE_API_KEY: is required when HEADSCALE_TRANSPORT=api — export HEADSCALE_API_KEY=… (from `headscale apikeys create`)',
      ]),
    );
    expect(problems).toHaveLength(3);
  });

  it('never puts a HEADSCALE_API_KEY value in a message or hint', () => {
    const secret = 'tOpSeCrEt value with spaces';
    for (const options of [{ env: { HEADSCALE_API_KEY: secret } }, {}] as LoadOptions[]) {
      const text = `${BASE}HEADSCALE_NAMESPACE=Bad\n${options.env ? '' : `HEADSCALE_API_KEY="${secret}"\n`}`;
      const err = expectUsageError(() => fromFile(text, options), ConfigError);
      expect(err.problems).toContain('HEADSCALE_API_KEY: the value is not an API key — create one with `headscale apikeys create`');
      for (const text of [err.message, err.hint ?? '', ...err.problems]) {
        expect(text).not.toContain('tOpSeCrEt');
      }
    }
  });

  it('warns about unknown keys whose near match is also set, or that match nothing, and ignores them', () => {
    const warnings: string[] = [];
    const dir = join(tmp, 'unknown');
    mkdirSync(dir);
    const path = join(dir, 'config.env');
    writeFileSync(path, `${BASE}HEADSCALE_DOMIAN=x\nTAILSCALE_SERVICES=a\nTAILSCALE_SERVICE=b\nXYZZY=1\n`);
    const c = loadConfig({ configPath: path, env: {}, warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([
      `${path}: unknown key HEADSCALE_DOMIAN — did you mean HEADSCALE_DOMAIN?`,
      `${path}: unknown key TAILSCALE_SERVICE — did you mean TAILSCALE_SERVICES?`,
      `${path}: unknown key XYZZY (ignored)`,
    ]);
    expect(c.services).toEqual(['a']);
    expect(c.headscale.domain).toBe('headscale.example.com');
  });

  it('refuses a misspelt key whose intended key is not set: the field would silently keep its default', () => {
    const warnings: string[] = [];
    const problems = problemsOf(() => fromFile(`${BASE}PLATFORM_NAMESPCE=prod\nTAILSCALE_SERVICE=a\n`, { warn: (m) => warnings.push(m) }));
    expect(problems).toEqual([
      'PLATFORM_NAMESPCE: unknown key — did you mean PLATFORM_NAMESPACE? Rename it to PLATFORM_NAMESPACE',
      'TAILSCALE_SERVICE: unknown key — did you mean TAILSCALE_SERVICES? Rename it to TAILSCALE_SERVICES',
    ]);
    expect(warnings).toEqual([]);
  });

  it('no warnings for a file with known keys only', () => {
    const warnings: string[] = [];
    fromFile(`${BASE}TAILSCALE_SERVICES=a\n`, { warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
  });

  it('a missing explicit config file is a UsageError naming the path', () => {
    const path = join(tmp, 'nope', 'config.env');
    const err = expectUsageError(() => loadConfig({ configPath: path, env: { HEADSCALE_DOMAIN: 'hs.acme.io' } }));
    expect(err).not.toBeInstanceOf(ConfigError);
    expect(err.message).toBe(`config file ${path} does not exist`);
    expect(err.hint).toBe('copy config.env.example to config.env and edit it, or pass --config PATH');
  });

  it('a directory passed as config file is a UsageError', () => {
    const err = expectUsageError(() => loadConfig({ configPath: tmp, env: { HEADSCALE_DOMAIN: 'hs.acme.io' } }));
    expect(err.message).toBe(`config file ${tmp} is a directory`);
  });

  it('the default ./config.env may be absent', () => {
    const dir = join(tmp, 'no-default');
    mkdirSync(dir);
    const c = loadConfig({ cwd: dir, env: { HEADSCALE_DOMAIN: 'hs.acme.io' } });
    expect(c.configPath).toBeUndefined();
    expect(c.sources.HEADSCALE_DOMAIN).toBe('env');
    const err = expectUsageError(() => loadConfig({ cwd: dir, env: {} }), ConfigError);
    expect(err.hint).toBe('create config.env from config.env.example, or pass --config PATH');
  });

  it('the default ./config.env is read from cwd when present', () => {
    const dir = join(tmp, 'with-default');
    mkdirSync(dir);
    writeFileSync(join(dir, 'config.env'), 'HEADSCALE_DOMAIN=hs.default.io\n');
    const c = loadConfig({ cwd: dir, env: {} });
    expect(c.headscale.domain).toBe('hs.default.io');
    expect(c.configPath).toBe(join(dir, 'config.env'));
  });
});

describe('file format', () => {
  const plain = [
    '# comment',
    'HEADSCALE_DOMAIN=hs.acme.io',
    'TAILSCALE_SERVICES=orchestrator,idp,stt',
    'KEY_EXPIRATION=90d',
    'HEADSCALE_NAMESPACE="hs"',
    'HOST_HOSTNAME=box1',
    '',
  ].join('\n');

  it('a UTF-8 BOM and CRLF line endings parse exactly like the plain file', () => {
    const warnA: string[] = [];
    const warnB: string[] = [];
    const a = fromFile(plain, { warn: (m) => warnA.push(m) });
    const b = fromFile(`\uFEFF${plain.replace(/\n/g, '\r\n')}`, { warn: (m) => warnB.push(m) });
    expect(warnA).toEqual([]);
    expect(warnB).toEqual([]);
    expect({ ...b, configPath: undefined }).toEqual({ ...a, configPath: undefined });
    expect(b.headscale.domain).toBe('hs.acme.io');
    expect(b.sources.HEADSCALE_DOMAIN).toBe('file');
    expect(b.services).toEqual(['orchestrator', 'idp', 'stt']);
    expect(b.hostHostname).toBe('box1');
    // old Mac line endings too
    const c = fromFile(plain.replace(/\n/g, '\r'));
    expect({ ...c, configPath: undefined }).toEqual({ ...a, configPath: undefined });
  });

  it('config.env.example loads without warnings', () => {
    const warnings: string[] = [];
    const c = loadConfig({ configPath: resolve(__dirname, '../../config.env.example'), env: {}, warn: (m) => warnings.push(m) });
    expect(warnings).toEqual([]);
    expect(c.headscale.url).toBe('https://headscale.ozzu.world');
    expect(c.tailnetDomain).toBe('tail.ozzu.world');
  });

  it('does not mutate process.env', () => {
    const before = { ...process.env };
    expect(process.env.HEADSCALE_DOMAIN).toBeUndefined();
    fromFile(`${plain}KUBECONFIG=/x/y\n`);
    loadConfig({ configPath: resolve(__dirname, '../../config.env.example') });
    expect(process.env).toEqual(before);
    expect(process.env.HEADSCALE_DOMAIN).toBeUndefined();
    expect(process.env.TAILSCALE_SERVICES).toBeUndefined();
  });
});
