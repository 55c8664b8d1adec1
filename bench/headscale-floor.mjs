// The Headscale part of the job done the fastest way a client can: every user created at once
// through the REST API, each user's reusable key requested as soon as its user exists, with no
// bound on requests in flight, no reads and no checks. With bench/cluster-floor.sh it makes the
// "ideal" client: no client can do the Headscale work faster against the same server.
//
//   node headscale-floor.mjs <service>...
//
// env: HEADSCALE_API_URL, HEADSCALE_API_KEY, HEADSCALE_NUMERIC_IDS (1: 0.26+ refers to users by id),
//      USER_PREFIX (default `june-`: user june-<service>)
import * as http from 'node:http';
import * as https from 'node:https';

const base = process.env.HEADSCALE_API_URL.replace(/\/+$/, '');
const headers = { Authorization: `Bearer ${process.env.HEADSCALE_API_KEY}`, 'Content-Type': 'application/json' };
const byId = process.env.HEADSCALE_NUMERIC_IDS === '1';
const prefix = process.env.USER_PREFIX ?? 'june-';
const expiration = new Date(Date.now() + 180 * 86_400_000).toISOString();

// node:http rather than fetch: undici's first load would cost more than a few requests
const agent = new (base.startsWith('https:') ? https : http).Agent({ keepAlive: true });
function post(path, body) {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = (base.startsWith('https:') ? https : http).request(
      `${base}${path}`,
      { method: 'POST', agent, headers: { ...headers, 'Content-Length': Buffer.byteLength(data) } },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () =>
          res.statusCode >= 200 && res.statusCode < 300
            ? resolve(JSON.parse(text))
            : reject(new Error(`POST ${path}: HTTP ${res.statusCode} ${text.slice(0, 200)}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

await Promise.all(
  process.argv.slice(2).map(async (svc) => {
    const { user } = await post('/api/v1/user', { name: `${prefix}${svc}` });
    const { preAuthKey } = await post('/api/v1/preauthkey', {
      user: byId ? user.id : user.name,
      reusable: true,
      ephemeral: false,
      expiration,
    });
    if (!preAuthKey?.key) throw new Error(`no key for ${svc}`);
  }),
);
