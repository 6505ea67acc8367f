// Node ws's permessage-deflate negotiation (client side), for upgrade's
// tests: reads a JSON list of {options, answer} on stdin and writes, for
// each, whether ws's client with those options accepts the server's answer.
'use strict';
const path = require('path');
const lib = path.join(process.argv[2], 'node_modules/ws/lib/');
const PerMessageDeflate = require(lib + 'permessage-deflate.js');
const { parse } = require(lib + 'extension.js');

let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const out = JSON.parse(input).map((req) => {
    try {
      const exts = parse(req.answer);
      const names = Object.keys(exts);
      if (names.length !== 1 || names[0] !== PerMessageDeflate.extensionName ||
          exts[names[0]].length !== 1) {
        throw new Error('not one permessage-deflate');
      }
      const pmd = new PerMessageDeflate(req.options, false);
      return { ok: true, params: pmd.accept(exts[names[0]]) };
    } catch (e) {
      return { ok: false, err: String(e) };
    }
  });
  process.stdout.write(JSON.stringify(out));
});
