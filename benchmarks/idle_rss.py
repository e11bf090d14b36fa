#!/usr/bin/env python3
"""Opens N idle keep-alive connections to a proxy and reports its RSS growth per connection.

Each connection first completes one GET, so it sits in the proxy's keep-alive idle state (the
state that costs memory at scale), then stays open while RSS is read from /proc.

  idle_rss.py --port 8080 --pid 1234 [--count 10000] [--path /x] [--tls]

With --tls every connection is a TLS connection (certificate not verified: the benchmarks use a
self-signed one), each a full handshake.
"""
import argparse
import resource
import socket
import ssl
import sys
import time


def rss_kib(pids):
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


def read_response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed before a response")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        body += sock.recv(65536)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, action="append", required=True,
                        help="process whose RSS counts (repeat for master + worker)")
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--path", default="/x")
    parser.add_argument("--tls", action="store_true")
    args = parser.parse_args()

    context = None
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE

    def connect():
        s = socket.create_connection(("127.0.0.1", args.port))
        return context.wrap_socket(s, server_hostname="bench.local") if context else s

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = args.count + 256
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))

    request = f"GET {args.path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    # Warm the proxy (pools, caches) so the baseline is not its cold start.
    warm = connect()
    for _ in range(100):
        warm.sendall(request)
        read_response(warm)
    warm.close()
    time.sleep(0.2)
    before = rss_kib(args.pid)
    conns = []
    for _ in range(args.count):
        s = connect()
        s.sendall(request)
        read_response(s)
        conns.append(s)
    # Let the proxy settle: portcullis releases the read buffers of connections that stay idle
    # across a 200 ms upkeep period; nginx frees its buffers right after each response.
    time.sleep(1.0)
    after = rss_kib(args.pid)
    per_conn = (after - before) / args.count
    print(f"connections={args.count} rss_before_kib={before} rss_after_kib={after} "
          f"kib_per_idle_connection={per_conn:.2f}")
    for s in conns:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
