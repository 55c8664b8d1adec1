// Preloaded (`node --import ./bench/http-trace.mjs`) into the bench's extra profile runs of june-ts:
// one JSON line per HTTP request to $BENCH_HTTP_LOG (port, method, path without its query,
// start and duration in ms since the process started). Headers are never written, so no
// API key reaches the log. Not loaded by the timed runs.
import { appendFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';

const logFile = process.env.BENCH_HTTP_LOG;
if (logFile) {
  for (const mod of [http, https]) {
    const request = mod.request;
    mod.request = function tracedRequest(...args) {
      const start = performance.now();
      const req = request.apply(this, args);
      const write = () => {
        const port = String(req.getHeader('host') ?? '')
          .split(':')
          .pop();
        const line = {
          port,
          method: req.method,
          path: req.path.split('?')[0],
          start: Math.round(start),
          ms: Math.round(performance.now() - start),
        };
        appendFileSync(logFile, `${JSON.stringify(line)}\n`);
      };
      req.once('response', (res) => res.once('end', write));
      return req;
    };
  }
  // `import { request } from 'node:http'` sees the traced function too
  syncBuiltinESMExports();
}
