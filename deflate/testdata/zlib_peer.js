// Node's zlib as an independent permessage-deflate peer for deflate's
// tests, one message at a time primed with a dictionary (what context
// takeover amounts to). Reads a JSON list of jobs on stdin:
//   {"op": "inflate" | "deflate", "wbits", "dict": b64, "msg": b64, "level"}
// inflate: msg + 00 00 ff ff (RFC 7692 §7.2.2) through inflateRawSync.
// deflate: deflateRawSync with a sync flush, 00 00 ff ff removed (§7.2.1).
'use strict';
const zlib = require('zlib');
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', () => {
  const out = JSON.parse(input).map((job) => {
    try {
      const opts = { windowBits: job.wbits };
      if (job.dict) opts.dictionary = Buffer.from(job.dict, 'base64');
      const msg = Buffer.from(job.msg || '', 'base64');
      if (job.op === 'inflate') {
        opts.finishFlush = zlib.constants.Z_SYNC_FLUSH; // no BFINAL: the stream goes on
        const r = zlib.inflateRawSync(Buffer.concat([msg, TAIL]), opts);
        return { ok: true, msg: r.toString('base64') };
      }
      opts.level = job.level;
      opts.finishFlush = zlib.constants.Z_SYNC_FLUSH;
      const z = zlib.deflateRawSync(msg, opts);
      if (!z.subarray(z.length - 4).equals(TAIL)) throw new Error('no sync flush tail');
      return { ok: true, msg: z.subarray(0, z.length - 4).toString('base64') };
    } catch (e) {
      return { ok: false, err: String(e) };
    }
  });
  process.stdout.write(JSON.stringify(out));
});
