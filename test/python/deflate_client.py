"""Python `websockets` with its default permessage-deflate against wsd's /echo.

Prints one JSON object: the server's Sec-WebSocket-Extensions answer, the
parameters websockets agreed to, whether each echo came back intact, and the
close code; the Go test asserts on it.
It echoes text and binary of each size, then the repeat text twice (with
context takeover the second refers to the first).
Usage: /usr/bin/python3 deflate_client.py ws://127.0.0.1:PORT/echo REPEAT SIZE...
"""
import asyncio
import json
import sys

import websockets


def text_of(n):
    """n bytes of compressible UTF-8 text (wsconn's textOf)."""
    pattern = '{"msg":"wsd 数据","n":42} '.encode()
    b = (pattern * (n // len(pattern) + 1))[:n]
    while True:
        try:
            s = b.decode()
            break
        except UnicodeDecodeError:
            b = b[:-1]
    return s + "." * (n - len(b))


def bin_of(n):
    """n bytes of compressible binary (wsconn's binOf)."""
    return bytes((i % 23) * 11 & 255 for i in range(n))


async def main(url, repeat, sizes):
    res = {"echoes": {}}
    # The default compression="deflate": context takeover both ways,
    # client_max_window_bits offered.
    async with websockets.connect(url, max_size=None) as ws:
        res["answer"] = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        res["params"] = [
            {
                "name": e.name,
                "remote_no_context_takeover": e.remote_no_context_takeover,
                "local_no_context_takeover": e.local_no_context_takeover,
                "remote_max_window_bits": e.remote_max_window_bits,
                "local_max_window_bits": e.local_max_window_bits,
            }
            for e in ws.extensions
        ]
        for n in sizes:
            t = text_of(n)
            await ws.send(t)
            res["echoes"]["text_%d" % n] = (await ws.recv()) == t
            b = bin_of(n)
            await ws.send(b)
            res["echoes"]["binary_%d" % n] = (await ws.recv()) == b
        for k in ("repeat_1", "repeat_2"):
            await ws.send(repeat)
            res["echoes"][k] = (await ws.recv()) == repeat
        await ws.close(1000, "done")
    res["close_code"] = ws.close_code
    print(json.dumps(res))


asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2], [int(a) for a in sys.argv[3:]]), 60))
