// The fetch the HTTP wire uses by default: the little of fetch it needs (method, headers, a
// string body, a signal; status, a header and the text of the answer), on node:http(s). The
// global fetch loads undici on first use, which costs a run more time and memory than all of
// its Headscale calls. Failures look like fetch's: a TypeError whose cause carries the errno,
// or the signal's reason when it aborts.
import * as http from 'node:http';
import * as https from 'node:https';

const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

export const nodeFetch = ((input: string | URL, init: RequestInit = {}): Promise<Response> =>
  new Promise((resolve, reject) => {
    const url = new URL(String(input));
    const signal = init.signal ?? undefined;
    if (signal?.aborted) return reject(signal.reason as Error);
    const mod = url.protocol === 'https:' ? https : http;
    const fail = (e: Error) => reject(Object.assign(new TypeError('fetch failed'), { cause: e }));
    const body = typeof init.body === 'string' ? init.body : undefined;
    const headers = {
      ...(init.headers as Record<string, string>),
      ...(body === undefined ? {} : { 'Content-Length': String(Buffer.byteLength(body)) }),
    };
    const req = mod.request(url, { method: init.method ?? 'GET', headers, agent: agents[url.protocol as keyof typeof agents] }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        signal?.removeEventListener('abort', abort);
        const text = Buffer.concat(chunks).toString('utf8');
        const header = (name: string) => {
          const v = res.headers[name.toLowerCase()];
          return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
        };
        resolve({
          status: res.statusCode ?? 0,
          ok: (res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300,
          headers: { get: header },
          text: () => Promise.resolve(text),
        } as unknown as Response);
      });
    });
    const abort = () => {
      req.destroy();
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', abort, { once: true });
    req.on('error', (e) => {
      signal?.removeEventListener('abort', abort);
      fail(e);
    });
    req.end(body);
  })) as typeof fetch;
