// Node's `ws` package against wsd's /echo. Prints one JSON object with the
// outcome of each check; the Go test asserts on it.
// Usage: node echo_client.js ws://127.0.0.1:PORT/echo
//        WS_CA=cert.pem node echo_client.js wss://127.0.0.1:PORT/echo
'use strict';
const WebSocket = require('ws');
const crypto = require('crypto');
const fs = require('fs');

const url = process.argv[2];
const res = {};
const opts = { perMessageDeflate: false, maxPayload: 0 };
if (process.env.WS_CA) opts.ca = fs.readFileSync(process.env.WS_CA); // trust the test certificate
const ws = new WebSocket(url, opts);
const timer = setTimeout(() => { console.log(JSON.stringify({ error: 'timeout', ...res })); process.exit(1); }, 30000);

const queue = [];
ws.on('message', (data, isBinary) => { const r = queue.shift(); r({ data, isBinary }); });
const next = () => new Promise((resolve) => queue.push(resolve));

ws.on('open', async () => {
  if (ws._socket.getProtocol) { res.tls = ws._socket.getProtocol(); res.cipher = ws._socket.getCipher().standardName; }
  const text = '发送数据 😀 hello';
  ws.send(text);
  let m = await next();
  res.text = !m.isBinary && m.data.toString('utf8') === text;
  for (const n of [0, 125, 126, 65535, 65536, 1 << 20]) {
    const b = crypto.randomBytes(n);
    ws.send(b, { binary: true });
    m = await next();
    res['binary_' + n] = m.isBinary && Buffer.compare(m.data, b) === 0;
  }
  // fin:false sends fragments of one message.
  ws.send('frag', { fin: false });
  ws.send('ment', { fin: false });
  ws.send('ed 数据', { fin: true });
  m = await next();
  res.fragmented = m.data.toString('utf8') === 'fragmented 数据';
  ws.ping(Buffer.from('node-ping'));
  ws.once('pong', (data) => {
    res.ping = data.toString() === 'node-ping';
    ws.close(4001, 'bye 再见');
  });
});
ws.on('close', (code) => {
  res.close_code = code;
  clearTimeout(timer);
  console.log(JSON.stringify(res));
});
ws.on('error', (e) => { console.log(JSON.stringify({ error: String(e), ...res })); process.exit(1); });
