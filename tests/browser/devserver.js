#!/usr/bin/env node
// Development server for the management page: serves plugins/management/www/
// at / and forwards /api/* to a management API (RabbitMQ 3.10 or Tern), so
// the page and the API share one origin, as they do when Tern embeds the page.
// No dependencies; Node's own http module only.
//
//   node tests/browser/devserver.js            # http://127.0.0.1:15690/
//   PORT=8000 TERN_API_URL=http://127.0.0.1:15673 node tests/browser/devserver.js
//
// It can also be started from code (the browser test does that):
//   const { start } = require('./devserver'); const srv = await start(0);

'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');

const WWW = path.resolve(__dirname, '../../plugins/management/www');
const API = new URL(process.env.TERN_API_URL || 'http://127.0.0.1:15672');

// Module scripts are refused by browsers unless served with a JavaScript type,
// so the embedded server must send these same types.
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

function serveFile(req, res) {
  let rel = decodeURIComponent(new URL(req.url, 'http://x').pathname);
  if (rel === '/') rel = '/index.html';
  const file = path.join(WWW, path.normalize(rel));
  if (!file.startsWith(WWW + path.sep)) {
    res.writeHead(403).end();
    return;
  }
  fs.readFile(file, (err, body) => {
    if (err) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file)] || 'application/octet-stream',
      'cache-control': 'no-store',
    });
    res.end(body);
  });
}

function proxy(req, res) {
  const headers = { ...req.headers, host: API.host };
  const up = http.request(
    { hostname: API.hostname, port: API.port || 80, method: req.method, path: req.url, headers },
    (upRes) => {
      const h = { ...upRes.headers };
      // A 401 with "WWW-Authenticate: Basic" makes browsers pop up their own
      // password prompt over the page's login form. The page sends
      // X-Requested-With, and a server should leave the challenge out for
      // such requests; RabbitMQ does not, so the dev server drops it.
      if (req.headers['x-requested-with']) delete h['www-authenticate'];
      res.writeHead(upRes.statusCode, h);
      upRes.pipe(res);
    },
  );
  up.on('error', (e) => {
    res.writeHead(502, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'bad_gateway', reason: `dev server: ${e.message}` }));
  });
  req.pipe(up);
}

function start(port = Number(process.env.PORT || 15690), host = '127.0.0.1') {
  const server = http.createServer((req, res) => {
    if (req.url === '/api' || req.url.startsWith('/api/')) proxy(req, res);
    else serveFile(req, res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

module.exports = { start };

if (require.main === module) {
  start().then((s) => {
    const a = s.address();
    console.log(`management page on http://${a.address}:${a.port}/ (API: ${API.origin})`);
  });
}
