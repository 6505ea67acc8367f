// wsd.js — a small client for wsd's user connections (ES module, served
// by every wsd at GET /wsd.js). It keeps the hub's promise on the client
// side: every message once, in order, across reconnects and nodes.
//
//   import { connect } from '/wsd.js';
//   const c = connect({ user: 'alice', nodes: ['10.0.0.1:8080', '10.0.0.2:8080'],
//     onMessage: m => …, onHello: h => …, onGap: g => …, onUnread: u => …, onState: s => … });
//   c.read();  c.send({ type: 'join', room: 'news' });  c.close();
//
// - connects to /ws/{user} on one of `nodes` (host:port, default this
//   page's host), starting at a random one to spread clients;
// - reconnects after a drop with jittered exponential backoff, to the next
//   node of the list, resuming with ?since= the last seq it saw;
// - drops any message whose seq it already has (a resume may overlap);
// - falls back to long polling (GET /poll/{user}?since=&wait=) when
//   WebSocket fails to open several times in a row (a proxy that refuses
//   the upgrade), and tries WebSocket again from time to time;
// - surfaces hello, gap and unread, and room and broadcast messages.
// States given to onState: 'connecting', 'open', 'reconnecting', 'polling', 'closed'.

const defaults = {
  nodes: null,            // ['host:port', …]; null: this page's host
  token: '',              // a signed token (?token=), if the server wants one
  since: 0,               // resume after this seq (the last one the app has)
  minBackoff: 250,        // ms, doubled per failure up to maxBackoff, jittered
  maxBackoff: 10000,
  pollAfter: 3,           // WebSocket failures in a row (never opened) before polling
  pollWait: 25,           // seconds a long poll waits
  retryWebSocket: 30000,  // ms between WebSocket attempts while polling
};

export function connect(options) { return new Client(options); }

export class Client {
  constructor(options) {
    this.o = Object.assign({}, defaults, options);
    if (!this.o.user) throw new Error('wsd.js: connect({user}) is required');
    this.nodes = this.o.nodes && this.o.nodes.length ? this.o.nodes.slice() : [location.host];
    this.node = Math.floor(Math.random() * this.nodes.length);
    this.seq = this.o.since;   // the last message's seq seen
    this.failures = 0;         // attempts in a row that failed
    this.unopened = 0;         // WebSocket attempts in a row that never opened
    this.ws = null;
    this.polling = false;
    this.closed = false;
    this.timer = null;
    this._open();
  }

  get state() { return this._state; }

  // send writes a control message ({type:'join'|'leave'|'say'|'read'}) on
  // the WebSocket; false while there is none (polling, reconnecting).
  send(obj) {
    if (!this.ws || this.ws.readyState !== 1) return false;
    this.ws.send(JSON.stringify(obj));
    return true;
  }

  // read marks everything read (every connection of the user hears it).
  read() { return this.send({ type: 'read' }); }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    if (this.ws) { this.ws.onclose = null; this.ws.close(1000, 'client closed'); this.ws = null; }
    if (this.abort) this.abort.abort();
    this._setState('closed');
  }

  // _setState tells onState(state, node, delay): delay is the backoff
  // before the next attempt (without its jitter) while reconnecting.
  _setState(s, delay) {
    if (this._state === s && delay === undefined) return;
    this._state = s;
    if (this.o.onState) this.o.onState(s, this.nodes[this.node], delay);
  }

  _query() {
    return '?since=' + this.seq + (this.o.token ? '&token=' + encodeURIComponent(this.o.token) : '');
  }

  _path(kind) { return '/' + kind + '/' + encodeURIComponent(this.o.user); }

  // _retry moves to the next node and waits before trying it.
  _retry(fn, state) {
    this.failures++;
    this.node = (this.node + 1) % this.nodes.length;
    const d = Math.min(this.o.maxBackoff, this.o.minBackoff * 2 ** (this.failures - 1));
    this._setState(state || 'reconnecting', d);
    this.timer = setTimeout(fn, d / 2 + Math.random() * d / 2); // jittered: clients of a dead node spread out
  }

  _open() {
    if (this.closed) return;
    if (typeof WebSocket === 'undefined' || this.unopened >= this.o.pollAfter) return this._poll();
    this._setState(this.failures ? 'reconnecting' : 'connecting');
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    let ws;
    try {
      ws = new WebSocket(scheme + this.nodes[this.node] + this._path('ws') + this._query());
    } catch (e) {
      this.unopened++;
      return this._retry(() => this._open());
    }
    this.ws = ws;
    ws.binaryType = 'arraybuffer';
    let opened = false;
    ws.onopen = () => { opened = true; this.failures = 0; this.unopened = 0; this._setState('open'); };
    ws.onmessage = (e) => this._frame(e.data);
    ws.onclose = () => {
      if (this.ws === ws) this.ws = null;
      if (this.closed) return;
      if (!opened) this.unopened++;
      this._retry(() => this._open());
    };
  }

  _frame(data) {
    if (typeof data !== 'string') {
      // A binary message: the 8-byte big-endian seq, then the body.
      const v = new DataView(data);
      const seq = v.getUint32(0) * 2 ** 32 + v.getUint32(4);
      return this._message({ type: 'message', seq, binary: new Uint8Array(data, 8) });
    }
    let m;
    try { m = JSON.parse(data); } catch (e) { return; }
    this._dispatch(m);
  }

  _dispatch(m) {
    const o = this.o;
    switch (m.type) {
    case 'message': return this._message(m);
    case 'hello': if (o.onHello) o.onHello(m); return;
    case 'gap': if (o.onGap) o.onGap(m); return;
    case 'unread': if (o.onUnread) o.onUnread(m); return;
    case 'broadcast': if (o.onBroadcast) o.onBroadcast(m); return;
    case 'room': if (o.onRoom) o.onRoom(m); return;
    default: if (o.onOther) o.onOther(m);
    }
  }

  _message(m) {
    if (m.seq <= this.seq) return; // had it already: a resume overlapped
    this.seq = m.seq;
    if (this.o.onMessage) this.o.onMessage(m);
  }

  // _poll long-polls until closed, trying WebSocket again now and then.
  async _poll() {
    if (this.polling || this.closed) return;
    this.polling = true;
    this._setState('polling');
    const http = location.protocol === 'https:' ? 'https://' : 'http://';
    let first = true, wsAt = Date.now() + this.o.retryWebSocket;
    while (!this.closed) {
      if (Date.now() >= wsAt) { // try WebSocket again once
        this.polling = false;
        this.unopened = this.o.pollAfter - 1;
        return this._open();
      }
      this.abort = new AbortController();
      try {
        const wait = first ? 0 : this.o.pollWait;
        const r = await fetch(http + this.nodes[this.node] + this._path('poll') + this._query() + '&wait=' + wait + 's',
          { signal: this.abort.signal, cache: 'no-store' });
        if (!r.ok) throw new Error('poll: HTTP ' + r.status);
        const p = await r.json();
        this.failures = 0;
        if (first) {
          first = false;
          this._dispatch({ type: 'hello', user: p.user, seq: p.seq, first: p.first, unread: p.unread, polling: true });
        }
        if (p.gap) this._dispatch({ type: 'gap', since: this.seq, first: p.first });
        for (const m of p.messages) this._dispatch(m);
      } catch (e) {
        if (this.closed) return;
        if (first) {
          // HTTP fails too: the node is down, not WebSocket blocked.
          this.polling = false;
          this.unopened = 0;
          return this._retry(() => this._open());
        }
        await new Promise((res) => this._retry(res, 'polling'));
      }
    }
  }
}
