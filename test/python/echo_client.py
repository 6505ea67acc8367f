"""Python `websockets` (Debian python3-websockets) against wsd's /echo.

Prints one JSON object with the outcome of each check; the Go test asserts
on it. Usage: /usr/bin/python3 echo_client.py ws://127.0.0.1:PORT/echo
       WS_CA=cert.pem /usr/bin/python3 echo_client.py wss://127.0.0.1:PORT/echo
"""
import asyncio
import json
import os
import ssl
import sys

import websockets


async def main(url):
    res = {}
    kw = {}
    if url.startswith("wss:"):  # WS_CA: the test certificate to trust
        kw["ssl"] = ssl.create_default_context(cafile=os.environ["WS_CA"])
    async with websockets.connect(url, max_size=None, compression=None, **kw) as ws:
        tls = ws.transport.get_extra_info("ssl_object")
        if tls is not None:
            res["tls"], res["cipher"] = tls.version(), tls.cipher()[0]
        text = "发送数据 😀 hello"
        await ws.send(text)
        res["text"] = (await ws.recv()) == text
        for n in (0, 125, 126, 65535, 65536, 1 << 20):
            b = os.urandom(n)
            await ws.send(b)
            res["binary_%d" % n] = (await ws.recv()) == b
        # An iterable is sent as one fragmented message.
        await ws.send(["frag", "ment", "ed 数据"])
        res["fragmented"] = (await ws.recv()) == "fragmented 数据"
        pong = await ws.ping(b"py-ping")
        await asyncio.wait_for(pong, 5)
        res["ping"] = True
        await ws.close(4001, "bye 再见")
    res["close_code"] = ws.close_code
    print(json.dumps(res))


asyncio.run(asyncio.wait_for(main(sys.argv[1]), 30))
