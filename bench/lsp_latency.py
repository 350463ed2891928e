#!/usr/bin/env python3
"""Time from `textDocument/didOpen` to `publishDiagnostics` of `mtlc lsp` for every reference spec
(and a change that breaks and one that fixes each), median of N rounds.
Usage: bench/lsp_latency.py [MTLC] [ROUNDS]   (default .build/release/mtlc, 20)"""
import json, os, statistics, subprocess, sys, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
mtlc = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, ".build/release/mtlc")
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
p = subprocess.Popen([mtlc, "lsp"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def send(obj):
    body = json.dumps(dict(obj, jsonrpc="2.0")).encode()
    p.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    p.stdin.flush()


def receive():
    length = None
    while True:
        line = p.stdout.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode().partition(":")
        if k.lower() == "content-length":
            length = int(v)
    return json.loads(p.stdout.read(length))


def diagnostics(uri):
    while True:
        m = receive()
        if m.get("method") == "textDocument/publishDiagnostics" and m["params"]["uri"] == uri:
            return m["params"]["diagnostics"]


send({"id": 1, "method": "initialize", "params": {"capabilities": {}}})
receive()
send({"method": "initialized", "params": {}})
print(f"| spec | open: median ms | change: median ms | diagnostics |")
print("|---|---|---|---|")
for name in ["shared_bottom", "mmoe", "cgc", "ple", "esmm", "aitm"]:
    path = os.path.join(root, "specs", name + ".yaml")
    uri = "file://" + path
    text = open(path).read()
    opens, changes = [], []
    for r in range(rounds):
        t = time.perf_counter()
        send({"method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "yaml", "version": 1, "text": text}}})
        d = diagnostics(uri)
        opens.append(time.perf_counter() - t)
        t = time.perf_counter()
        send({"method": "textDocument/didChange", "params": {"textDocument": {"uri": uri, "version": 2}, "contentChanges": [{"text": text.replace("input: features", "input: featurs", 1)}]}})
        broken = diagnostics(uri)
        changes.append(time.perf_counter() - t)
        send({"method": "textDocument/didClose", "params": {"textDocument": {"uri": uri}}})
        diagnostics(uri)
    print(f"| {name} | {statistics.median(opens) * 1000:.1f} | {statistics.median(changes) * 1000:.1f} | {len(d)} clean, {len(broken)} after the typo |")
send({"id": 2, "method": "shutdown"})
receive()
send({"method": "exit"})
p.wait()
