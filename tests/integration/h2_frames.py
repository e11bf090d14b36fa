#!/usr/bin/python3
"""Raw HTTP/2 frames against the gateway, for the attack and malformed-message tests.

Usage: h2_frames.py PORT SCENARIO [name=value ...]  (fields some scenarios add to their request)

Each scenario writes frames by hand (hyperframe, hpack: Debian's python3-hyperframe and
python3-hpack), so nothing on the client side corrects what the test means to send, then reads
what the gateway answers until it closes the connection or goes quiet, and prints one JSON object:

  goaway     the GOAWAY error code, or null
  last       the GOAWAY's last stream id, or null
  rst        {stream: error code} for every RST_STREAM
  status     {stream: :status} of every final response head
  body       {stream: bytes of DATA}
  ended      streams whose response ended (END_STREAM)
  closed     the gateway closed the connection
"""
import json
import socket
import sys
import time

import hpack
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame,
                              PriorityFrame, RstStreamFrame, SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
CANCEL = 0x8


class Conn:
    def __init__(self, port, settings=None):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        self.decoder.max_header_list_size = 1 << 24
        self.buf = b""
        self.result = {"goaway": None, "last": None, "rst": {}, "status": {}, "body": {}, "ended": [],
                       "closed": False}
        hello = SettingsFrame(0)
        for key, value in (settings or {}).items():
            hello.settings[key] = value
        self.send(PREFACE + hello.serialize())

    def send(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            self.result["closed"] = True

    def block(self, fields, huffman=False):
        return self.encoder.encode(fields, huffman=huffman)

    def headers(self, stream, fields, end_stream=True):
        frame = HeadersFrame(stream)
        frame.data = self.block(fields)
        frame.flags.add("END_HEADERS")
        if end_stream:
            frame.flags.add("END_STREAM")
        return frame.serialize()

    def data(self, stream, payload, end_stream=False):
        frame = DataFrame(stream)
        frame.data = payload
        if end_stream:
            frame.flags.add("END_STREAM")
        return frame.serialize()

    def read(self, quiet=1.0, limit=15.0, until=None):
        """Reads frames until the peer closes, `quiet` seconds pass with nothing, `limit` passes, or
        `until(result)` holds."""
        end = time.monotonic() + limit
        self.sock.settimeout(quiet)
        while time.monotonic() < end:
            if until and until(self.result):
                return self.result
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return self.result
            except OSError:
                chunk = b""
            if not chunk:
                self.result["closed"] = True
                return self.result
            self.buf += chunk
            self.parse()
        return self.result

    def parse(self):
        while len(self.buf) >= 9:
            frame, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
            if len(self.buf) < 9 + length:
                return
            frame.parse_body(memoryview(self.buf[9:9 + length]))
            self.buf = self.buf[9 + length:]
            self.on_frame(frame)

    def on_frame(self, frame):
        r = self.result
        sid = str(frame.stream_id)
        if isinstance(frame, SettingsFrame) and "ACK" not in frame.flags:
            ack = SettingsFrame(0)
            ack.flags.add("ACK")
            self.send(ack.serialize())
        elif isinstance(frame, GoAwayFrame):
            r["goaway"] = frame.error_code
            r["last"] = frame.last_stream_id
        elif isinstance(frame, RstStreamFrame):
            r["rst"][sid] = frame.error_code
        elif isinstance(frame, HeadersFrame):
            fields = dict(self.decoder.decode(frame.data))
            status = fields.get(":status") or fields.get(b":status")
            if isinstance(status, bytes):
                status = status.decode()
            if status and not status.startswith("1"):
                r["status"][sid] = int(status)
            if "END_STREAM" in frame.flags:
                r["ended"].append(frame.stream_id)
        elif isinstance(frame, DataFrame):
            r["body"][sid] = r["body"].get(sid, 0) + len(frame.data)
            if "END_STREAM" in frame.flags:
                r["ended"].append(frame.stream_id)


def raw_frame(kind, flags, stream, payload):
    """A frame as bytes, with nothing checked: any type, flags, stream and payload."""
    return len(payload).to_bytes(3, "big") + bytes([kind, flags]) + (stream & 0x7fffffff).to_bytes(4, "big") + payload


def request(path="/", method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":path", path), (":authority", "gw.test")] + list(extra)


# --- attacks ---------------------------------------------------------------------------------------

def rapid_reset(c):
    # Streams opened and reset at once (CVE-2023-44487), 50 to a write.
    stream = 1
    for _ in range(20):
        batch = b""
        for _ in range(50):
            batch += c.headers(stream, request("/hello"))
            batch += RstStreamFrame(stream, error_code=CANCEL).serialize()
            stream += 2
        c.send(batch)
        if c.result["closed"]:
            break
    return c.read()


def made_you_reset(c):
    # Streams the client gets the gateway to reset instead of resetting them itself: each request
    # announces a one-byte body, then, in a later read, sends two: a stream error (RFC 9113 8.1.1)
    # that nghttp2 answers with RST_STREAM. They count against the same budget.
    stream = 1
    for _ in range(1000):
        c.send(c.headers(stream, request("/echo", "POST", [("content-length", "1")]), end_stream=False))
        time.sleep(0.002)
        c.send(c.data(stream, b"ab"))
        stream += 2
        if c.result["closed"]:
            break
        c.read(quiet=0.001, limit=0.01)
    return c.read()


def continuation_flood(c):
    # A header block that never ends (CVE-2024-27316): HEADERS without END_HEADERS, then
    # CONTINUATION frames of small valid fields, each new to the dynamic table.
    first = HeadersFrame(1)
    first.data = c.block(request("/hello"))
    c.send(first.serialize())
    for i in range(2000):
        frame = ContinuationFrame(1)
        frame.data = c.block([("x-flood-%d" % (i * 8 + k), "v" * 400) for k in range(8)])
        c.send(frame.serialize())
        if c.result["closed"]:
            break
    return c.read()


def control_flood(c, make):
    for i in range(3000):
        c.send(make(i))
        if c.result["closed"]:
            break
    return c.read()


def ping_flood(c):
    return control_flood(c, lambda i: PingFrame(0, opaque_data=i.to_bytes(8, "big")).serialize())


def settings_flood(c):
    return control_flood(c, lambda i: SettingsFrame(0).serialize())


def priority_flood(c):
    return control_flood(c, lambda i: PriorityFrame(1 + 2 * (i % 100), depends_on=0, stream_weight=16).serialize())


def empty_data_flood(c):
    c.send(c.headers(1, request("/echo", "POST"), end_stream=False))
    return control_flood(c, lambda i: c.data(1, b""))


def hpack_bomb(c):
    # One large field stored in the dynamic table, then referenced again and again in the next
    # request: a few bytes on the wire decode to far more than the header list limit.
    c.send(c.headers(1, request("/hello", extra=[("x-big", "b" * 3000)])))
    c.read(until=lambda r: 1 in r["ended"])
    c.send(c.headers(3, request("/hello", extra=[("x-big", "b" * 3000)] * 40)))
    return c.read(until=lambda r: 3 in r["ended"] or "3" in r["rst"])


def zero_window(c):
    # The client lets no DATA through (CVE-2019-9517): the stream must not hold the gateway's
    # memory or a slot for ever.
    c.send(c.headers(1, request("/bytes?n=10000000")))
    return c.read(quiet=10.0, limit=20.0, until=lambda r: "1" in r["rst"])


# --- malformed requests (RFC 9113 8.1.1, 8.2): each a stream error; stream 3 is a good one after it -

MALFORMED = {
    "connection": request(extra=[("connection", "keep-alive")]),
    "keep_alive": request(extra=[("keep-alive", "timeout=5")]),
    "proxy_connection": request(extra=[("proxy-connection", "keep-alive")]),
    "transfer_encoding": request(extra=[("transfer-encoding", "chunked")]),
    "upgrade": request(extra=[("upgrade", "websocket")]),
    "te_gzip": request(extra=[("te", "gzip")]),
    "upper_case": request(extra=[("X-Upper", "1")]),
    "cr_in_value": request(extra=[("x-a", "a\rb")]),
    "lf_in_value": request(extra=[("x-a", "a\nx-injected: 1")]),
    "nul_in_value": request(extra=[("x-a", "a\x00b")]),
    "missing_path": [(":method", "GET"), (":scheme", "http"), (":authority", "gw.test")],
    "missing_method": [(":scheme", "http"), (":path", "/"), (":authority", "gw.test")],
    "duplicate_path": request() + [(":path", "/again")],
    "pseudo_after_regular": request()[:3] + [("x-a", "1"), (":authority", "gw.test")],
}

# Well-formed for HTTP/2 but refused by the gateway with an answer of its own (400, 501).
REFUSED = {
    "host_mismatch": request(extra=[("host", "other.test")]),
    "connect": [(":method", "CONNECT"), (":authority", "origin.test:443")],
}


def malformed(c, name):
    c.send(c.headers(1, MALFORMED.get(name) or REFUSED[name]))
    c.read(quiet=0.5, until=lambda r: "1" in r["rst"] or "1" in r["status"])
    c.send(c.headers(3, request("/hello")))
    return c.read(until=lambda r: 3 in r["ended"])


def content_length_mismatch(c):
    c.send(c.headers(1, request("/echo", "POST", [("content-length", "10")]), end_stream=False))
    c.send(c.data(1, b"12345", end_stream=True))
    c.read(quiet=0.5, until=lambda r: "1" in r["rst"] or "1" in r["status"])
    c.send(c.headers(3, request("/hello")))
    return c.read(until=lambda r: 3 in r["ended"])


def request_trailers(c):
    # A body and then trailers, which end the stream: they go on to the origin.
    extra = [tuple(item.split("=", 1)) for item in sys.argv[3:]]  # more request fields, name=value
    c.send(c.headers(1, request("/trailers", "POST", extra), end_stream=False))
    c.send(c.data(1, b"abc", end_stream=False))
    c.send(c.headers(1, [("x-checksum", "abc123")], end_stream=True))
    return c.read(until=lambda r: 1 in r["ended"])


def random_frames(c, seed=0):
    # Many connections of random frame sequences, valid and not, from a fixed seed: whatever they
    # do to their own connection, the gateway must stay up (the sanitizer build's daemon fails the
    # test on any memory error) and go on serving.
    import random
    rng = random.Random(seed)
    port = c.sock.getpeername()[1]
    paths = ["/hello", "/echo", "/bytes?n=100000", "/sleep?ms=50", "/status/500", "/headers"]

    def one(conn):
        stream = 1
        for _ in range(rng.randint(1, 40)):
            kind = rng.randrange(11) if rng.random() < 0.97 else 11  # garbage seldom: it ends the connection
            sid = rng.choice([stream, stream - 2 if stream > 1 else 1, 0, rng.randrange(1, 200)])
            if kind < 3:
                extra = [("x-%d" % rng.randrange(50), "v" * rng.randrange(0, 3000))]
                if rng.random() < 0.3:
                    extra.append(rng.choice([("connection", "close"), ("te", "trailers"), ("content-length", str(rng.randrange(0, 10))),
                                             ("X-Up", "1"), (":path", "/dup"), ("host", "h")]))
                method = rng.choice(["GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS"])
                conn.send(conn.headers(stream, request(rng.choice(paths), method, extra), end_stream=rng.random() < 0.5))
                stream += 2
            elif kind < 5:
                conn.send(raw_frame(0, rng.choice([0, 1]), sid, bytes(rng.randrange(0, 20000))))  # DATA
            elif kind == 5:
                conn.send(raw_frame(3, 0, sid, rng.randrange(0, 14).to_bytes(4, "big")))  # RST_STREAM
            elif kind == 6:
                conn.send(raw_frame(8, 0, sid, rng.randrange(0, 1 << 31).to_bytes(4, "big")))  # WINDOW_UPDATE
            elif kind == 7:
                conn.send(raw_frame(6, rng.choice([0, 1]), rng.choice([0, sid]), bytes(8)))  # PING
            elif kind == 8:
                setting = rng.randrange(0, 8).to_bytes(2, "big") + rng.randrange(0, 1 << 32).to_bytes(4, "big")
                conn.send(raw_frame(4, rng.choice([0, 0, 1]), rng.choice([0, 0, sid]), setting))  # SETTINGS
            elif kind == 9:
                conn.send(raw_frame(9, rng.choice([0, 4]), sid, conn.block([("x-c", "1")])))  # CONTINUATION
            elif kind == 10:
                conn.send(raw_frame(2, 0, sid, rng.randrange(0, 1 << 32).to_bytes(4, "big") + bytes([rng.randrange(256)])))
            else:
                conn.send(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))))
            if conn.result["closed"]:
                return
        conn.read(quiet=0.05, limit=1.0)

    for _ in range(400):
        conn = Conn(port)
        one(conn)
        conn.sock.close()
    c.send(c.headers(1, request("/hello")))
    return c.read(until=lambda r: 1 in r["ended"])


def main():
    port, scenario = int(sys.argv[1]), sys.argv[2]
    settings = {SettingsFrame.INITIAL_WINDOW_SIZE: 0} if scenario == "zero_window" else None
    c = Conn(port, settings)
    if scenario in MALFORMED or scenario in REFUSED:
        result = malformed(c, scenario)
    else:
        result = globals()[scenario](c)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
