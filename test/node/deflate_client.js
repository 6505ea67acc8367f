// Node's `ws` with permessage-deflate against wsd's /echo, one connection
// per job, one after another. Reads {"url": ..., "sizes": [...], "jobs":
// [perMessageDeflate options, ...]} on stdin; prints one JSON array with,
// per job, the server's Sec-WebSocket-Extensions answer, the extension
// parameters ws agreed to, whether each echo came back intact, and the
// close code. The Go test asserts on it.
// Usage: node deflate_client.js < jobs.json
'use strict';
const WebSocket = require('ws');
const { isUtf8 } = require('buffer');

// textOf is n bytes of compressible UTF-8 text (wsconn's textOf).
function textOf(n) {
  const pattern = Buffer.from('{"msg":"wsd 数据","n":42} ');
  let b = Buffer.alloc(0);
  while (b.length < n) b = Buffer.concat([b, pattern]);
  b = b.subarray(0, n);
  while (!isUtf8(b)) b = b.subarray(0, b.length - 1);
  return Buffer.concat([b, Buffer.alloc(n - b.length, '.')]).toString('utf8');
}

// binOf is n bytes of compressible binary (wsconn's binOf).
function binOf(n) {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = ((i % 23) * 11) & 255;
  return b;
}

function run(url, sizes, repeat, options) {
  return new Promise((resolve) => {
    const res = { echoes: {} };
    const ws = new WebSocket(url, { perMessageDeflate: options, maxPayload: 0 });
    const timer = setTimeout(() => { res.error = 'timeout'; ws.terminate(); }, 30000);
    ws.on('upgrade', (r) => { res.answer = r.headers['sec-websocket-extensions'] || ''; });
    const queue = [];
    ws.on('message', (data, isBinary) => { const r = queue.shift(); if (r) r({ data, isBinary }); });
    const next = () => new Promise((r) => queue.push(r));
    ws.on('open', async () => {
      res.extensions = ws.extensions;
      const pmd = ws._extensions['permessage-deflate']; // the parameters ws agreed to (no public API)
      res.params = pmd ? pmd.params : null;
      for (const n of sizes) {
        const t = textOf(n);
        ws.send(t);
        let m = await next();
        res.echoes['text_' + n] = !m.isBinary && m.data.toString('utf8') === t;
        const b = binOf(n);
        ws.send(b, { binary: true });
        m = await next();
        res.echoes['binary_' + n] = m.isBinary && Buffer.compare(m.data, b) === 0;
      }
      for (const k of ['repeat_1', 'repeat_2']) {
        ws.send(repeat);
        const m = await next();
        res.echoes[k] = !m.isBinary && m.data.toString('utf8') === repeat;
      }
      ws.close(1000, 'done');
    });
    ws.on('close', (code) => { clearTimeout(timer); res.close_code = code; resolve(res); });
    ws.on('error', (e) => { res.error = String(e); });
  });
}

let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', async () => {
  const { url, sizes, repeat, jobs } = JSON.parse(input);
  const out = [];
  for (const options of jobs) out.push(await run(url, sizes, repeat, options));
  console.log(JSON.stringify(out));
});
