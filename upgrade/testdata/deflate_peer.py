# Python websockets' permessage-deflate negotiation, for upgrade's tests:
# reads a JSON list of requests on stdin, writes a JSON list of results.
#   {"op": "client", "offer": {...}, "answer": "..."}: does websockets'
#     client, having made that offer, accept the server's answer (and can it
#     then compress a message)?
#   {"op": "server", "settings": {...}, "offer": "..."}: websockets'
#     server answer to that offer, or its refusal.
import json
import sys

from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.frames import Frame, Opcode
from websockets.headers import build_extension, parse_extension


def client(req):
    o = req["offer"]
    cmwb = o.get("client_max_window_bits")
    f = ClientPerMessageDeflateFactory(
        server_no_context_takeover=o.get("server_no_context_takeover", False),
        client_no_context_takeover=o.get("client_no_context_takeover", False),
        server_max_window_bits=o.get("server_max_window_bits"),
        client_max_window_bits=True if cmwb == "novalue" else cmwb,
    )
    exts = parse_extension(req["answer"])
    if len(exts) != 1 or exts[0][0] != f.name:
        raise ValueError("not one permessage-deflate: %r" % exts)
    ext = f.process_response_params(exts[0][1], [])
    ext.encode(Frame(Opcode.TEXT, b"hello, hello, hello" * 100))
    return {
        "server_no_context_takeover": ext.remote_no_context_takeover,
        "client_no_context_takeover": ext.local_no_context_takeover,
        "server_max_window_bits": ext.remote_max_window_bits,
        "client_max_window_bits": ext.local_max_window_bits,
    }


def server(req):
    f = ServerPerMessageDeflateFactory(**req["settings"])
    exts = parse_extension(req["offer"])
    params, _ = f.process_request_params(exts[0][1], [])
    return {"answer": build_extension([(f.name, params)])}


out = []
for req in json.load(sys.stdin):
    try:
        res = {"client": client, "server": server}[req["op"]](req)
        res["ok"] = True
    except Exception as e:  # the refusal is the answer
        res = {"ok": False, "err": "%s: %s" % (type(e).__name__, e)}
    out.append(res)
json.dump(out, sys.stdout)
