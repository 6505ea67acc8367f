# Python's zlib as an independent permessage-deflate peer for deflate's
# tests. Reads a JSON list of jobs on stdin, writes a JSON list of results.
# Bytes travel as base64. A job:
#   {"op": "inflate" | "deflate", "wbits": 8..15, "dict": b64 or "",
#    "msgs": [b64, ...], "takeover": bool, "level": int}
# inflate: each message + 00 00 ff ff (RFC 7692 §7.2.2) through one
#   decompressobj kept across messages (context takeover) or a fresh one
#   per message, both primed with dict. Output is taken one byte per call,
#   so that every back-reference is checked against the 2^wbits window
#   (zlib checks distances only against what it has in its window, not
#   against bytes it produced in the same call).
# deflate: each message compressed and sync-flushed, 00 00 ff ff removed
#   (§7.2.1), by one compressobj or a fresh one per message.
import base64
import json
import sys
import zlib

TAIL = b"\x00\x00\xff\xff"


def b64(b):
    return base64.b64encode(bytes(b)).decode()


def unb64(s):
    return base64.b64decode(s)


def inflate_strict(d, data):
    out = bytearray()
    buf = data
    while True:
        chunk = d.decompress(buf, 1)
        out += chunk
        buf = d.unconsumed_tail
        if not chunk and not buf:
            return out


def new_inflater(job):
    kw = {"wbits": -job["wbits"]}
    if job.get("dict"):
        kw["zdict"] = unb64(job["dict"])
    return zlib.decompressobj(**kw)


def new_deflater(job):
    kw = {"level": job.get("level", 6), "method": zlib.DEFLATED, "wbits": -job["wbits"]}
    if job.get("dict"):
        kw["zdict"] = unb64(job["dict"])
    return zlib.compressobj(**kw)


def run(job):
    outs = []
    if job["op"] == "inflate":
        d = new_inflater(job)
        for m in job["msgs"]:
            if not job["takeover"]:
                d = new_inflater(job)
            outs.append(b64(inflate_strict(d, unb64(m) + TAIL)))
    else:
        c = new_deflater(job)
        for m in job["msgs"]:
            if not job["takeover"]:
                c = new_deflater(job)
            z = c.compress(unb64(m)) + c.flush(zlib.Z_SYNC_FLUSH)
            if not z.endswith(TAIL):
                raise ValueError("sync flush did not end with 00 00 ff ff")
            outs.append(b64(z[:-4]))
    return {"ok": True, "msgs": outs}


res = []
for job in json.load(sys.stdin):
    try:
        res.append(run(job))
    except Exception as e:
        res.append({"ok": False, "err": "%s: %s" % (type(e).__name__, e)})
json.dump(res, sys.stdout)
