"""Python `websockets` server with its default permessage-deflate, echoing
every message: the peer of wsconn's client role.

Prints {"port": N} once listening on 127.0.0.1 (a port the kernel chose)
and runs until stdin closes.
Usage: /usr/bin/python3 deflate_server.py
"""
import asyncio
import json
import sys

import websockets


async def echo(ws, path=None):
    async for msg in ws:
        await ws.send(msg)


async def main():
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        print(json.dumps({"port": port}), flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


asyncio.run(main())
