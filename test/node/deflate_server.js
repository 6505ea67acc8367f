// Node's `ws` server with permessage-deflate, echoing every message: the
// peer of wsconn's client role. Prints {"port": N} once listening on
// 127.0.0.1 (a port the kernel chose) and runs until stdin closes.
// Usage: node deflate_server.js '<perMessageDeflate options as JSON>'
'use strict';
const { WebSocketServer } = require('ws');

const options = JSON.parse(process.argv[2] || '{}');
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: options, maxPayload: 0 });
wss.on('listening', () => { console.log(JSON.stringify({ port: wss.address().port })); });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => { ws.send(data, { binary: isBinary }); });
  ws.on('error', () => {});
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
