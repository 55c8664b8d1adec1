// The HTTP wire's default fetch (node:http) against a real local server: what the wire reads
// of an answer, and failures shaped as the wire expects them from fetch.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExternalError } from '../../../src/errors.js';
import { createHeadscaleClient } from '../../../src/headscale/index.js';
import { nodeFetch } from '../../../src/headscale/http-fetch.js';
import { WriteGate } from '../../../src/write-gate.js';

const seen: { method?: string; url?: string; auth?: string; type?: string; length?: string; body: string }[] = [];
let server: Server;
let base: string;

async function bodyOf(req: IncomingMessage): Promise<string> {
  let body = '';
  for await (const c of req) body += String(c);
  return body;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    void bodyOf(req).then((body) => {
      seen.push({
        method: req.method,
        url: req.url,
        auth: req.headers.authorization,
        type: req.headers['content-type'],
        length: req.headers['content-length'],
        body,
      });
      if (req.url?.startsWith('/slow')) return; // never answers
      if (req.url === '/version') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end(JSON.stringify({ version: 'v0.29.3' }));
      }
      res.writeHead(req.url === '/missing' ? 404 : 201, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Two': ['a', 'b'] });
      res.end(`échoed ${body}`);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('nodeFetch', () => {
  it('sends method, headers and body; answers status, headers and the text', async () => {
    const res = await nodeFetch(`${base}/api/v1/user`, {
      method: 'POST',
      headers: { Authorization: 'Bearer k', 'Content-Type': 'application/json' },
      body: '{"name":"é"}',
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('Content-Type')).toBe('text/plain; charset=utf-8');
    expect(res.headers.get('x-two')).toBe('a, b');
    expect(res.headers.get('x-none')).toBeNull();
    expect(await res.text()).toBe('échoed {"name":"é"}');
    expect(seen.at(-1)).toEqual({
      method: 'POST',
      url: '/api/v1/user',
      auth: 'Bearer k',
      type: 'application/json',
      length: String(Buffer.byteLength('{"name":"é"}')),
      body: '{"name":"é"}',
    });
  });

  it('a 404 is an answer, not a failure', async () => {
    const res = await nodeFetch(`${base}/missing`);
    expect(res.status).toBe(404);
    expect(seen.at(-1)?.method).toBe('GET');
  });

  it('a refused connection fails as fetch does: TypeError with the errno in its cause', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const err = (await nodeFetch(`http://127.0.0.1:${port}/`).catch((e: unknown) => e)) as TypeError & { cause: { code: string } };
    expect(err).toBeInstanceOf(TypeError);
    expect(err.cause.code).toBe('ECONNREFUSED');
  });

  it('a timeout rejects with the signal’s TimeoutError', async () => {
    const err = (await nodeFetch(`${base}/slow`, { signal: AbortSignal.timeout(100) }).catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('TimeoutError');
  });

  it('is what the API transport uses by default, timeout included', async () => {
    const hs = createHeadscaleClient({ transport: 'api', gate: new WriteGate('off'), url: base, apiKey: 'k-secret-0123456789' });
    expect((await hs.version()).raw).toBe('v0.29.3');
    const slow = createHeadscaleClient({
      transport: 'api',
      gate: new WriteGate('off'),
      url: `${base}/slow`,
      apiKey: 'k-secret-0123456789',
      timeoutMs: 100,
    });
    const err = (await slow.version().catch((e: unknown) => e)) as ExternalError;
    expect(err).toBeInstanceOf(ExternalError);
    expect(err.message).toBe(`cannot reach Headscale at ${base}/slow (GET /version): timed out after 100 ms`);
  });
});
