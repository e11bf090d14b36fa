#!/usr/bin/python3
"""An HTTP/2 origin for the gateway's tests, on Debian's python3-h2: h2c, or h2 by ALPN with
--tls. Prints "listening PORT" once it serves.

Every request is answered 200 after the delay its x-delay-ms header asks for (none by default),
with the body "h2 METHOD PATH BODY-BYTES", x-protocol: h2 and x-connection: the connection's
number; a request with te: trailers gets the trailer x-origin-trailer: yes. GET /_stats answers
{"connections", "requests", "max_concurrent" (streams in flight on one connection at once),
"refused", "goaways"}, GET /_last the header fields (and trailers) of the last request but these two.

Options:
  --max-streams N    SETTINGS_MAX_CONCURRENT_STREAMS N
  --refuse-every K   every K-th request on a connection is refused (RST_STREAM REFUSED_STREAM)
  --goaway-after K   the K-th request on a connection gets GOAWAY with its stream id as the last
                     one processed: it is answered, the streams above it are not, then the
                     connection closes
  --silent-after K   the first connection, once K requests came on it, answers nothing more and
                     reads nothing more (a black hole); later connections behave
  --tls CERT KEY     TLS, offering h2 only by ALPN
  --alpn PROTOCOL    with --tls, offer PROTOCOL instead of h2
"""
import argparse
import asyncio
import json
import ssl

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
from hyperframe.frame import GoAwayFrame

stats = {"connections": 0, "requests": 0, "max_concurrent": 0, "refused": 0, "goaways": 0}
last = {}


class Connection:
    def __init__(self, reader, writer, args):
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=config)
        self.reader, self.writer, self.args = reader, writer, args
        self.streams = {}
        self.count = 0
        self.last_processed = None  # after our GOAWAY: streams above it are ignored
        stats["connections"] += 1
        self.index = stats["connections"]

    def silent(self):
        return self.args.silent_after and self.index == 1 and self.count >= self.args.silent_after

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.writer.write(data)

    async def run(self):
        settings = {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: self.args.max_streams or 1000}
        self.conn.initiate_connection()
        self.conn.update_settings(settings)
        self.flush()
        try:
            while True:
                if self.silent():
                    await asyncio.sleep(3600)
                data = await self.reader.read(65536)
                if not data:
                    break
                for event in self.conn.receive_data(data):
                    self.on_event(event)
                self.flush()
        except Exception:
            pass
        self.writer.close()

    def on_event(self, event):
        if isinstance(event, h2.events.RequestReceived):
            self.on_request(event)
        elif isinstance(event, h2.events.DataReceived):
            self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if event.stream_id in self.streams:
                self.streams[event.stream_id]["body"] += len(event.data)
        elif isinstance(event, h2.events.TrailersReceived):
            if event.stream_id in self.streams and last.get("stream") == (self.index, event.stream_id):
                last["trailers"] = list(event.headers)
        elif isinstance(event, h2.events.StreamEnded):
            if event.stream_id in self.streams:
                asyncio.get_event_loop().create_task(self.respond(event.stream_id))
        elif isinstance(event, h2.events.StreamReset):
            self.streams.pop(event.stream_id, None)

    def on_request(self, event):
        sid = event.stream_id
        if self.last_processed is not None and sid > self.last_processed:
            return  # never processed: the client learnt so from GOAWAY
        headers = list(event.headers)
        self.count += 1
        stats["requests"] += 1
        if self.args.refuse_every and self.count % self.args.refuse_every == 0:
            stats["refused"] += 1
            self.conn.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
            return
        if dict(headers).get(":path") not in ("/_stats", "/_last"):
            last.clear()
            last["fields"] = headers
            last["stream"] = (self.index, sid)
        self.streams[sid] = {"headers": dict(headers), "body": 0}
        stats["max_concurrent"] = max(stats["max_concurrent"], len(self.streams))
        if self.args.goaway_after and self.count == self.args.goaway_after:
            stats["goaways"] += 1
            self.last_processed = sid
            self.flush()
            self.writer.write(GoAwayFrame(stream_id=0, last_stream_id=sid, error_code=0).serialize())
        if event.stream_ended:
            asyncio.get_event_loop().create_task(self.respond(sid))

    async def respond(self, sid):
        stream = self.streams.get(sid)
        if stream is None:
            return
        headers = stream["headers"]
        delay = int(headers.get("x-delay-ms", "0"))
        if delay:
            await asyncio.sleep(delay / 1000)
        if sid not in self.streams or (self.silent() and self.count > self.args.silent_after):
            return  # reset meanwhile, or a black hole now
        path = headers.get(":path", "")
        if path == "/_stats":
            body = json.dumps(stats).encode()
        elif path == "/_last":
            body = json.dumps(last).encode()
        else:
            body = ("h2 %s %s %d" % (headers.get(":method"), path, stream["body"])).encode()
        trailers = headers.get("te") == "trailers"
        self.conn.send_headers(sid, [(":status", "200"), ("content-type", "text/plain"), ("x-protocol", "h2"),
                                     ("x-connection", str(self.index)), ("content-length", str(len(body)))])
        self.conn.send_data(sid, body, end_stream=not trailers)
        if trailers:
            self.conn.send_headers(sid, [("x-origin-trailer", "yes")], end_stream=True)
        del self.streams[sid]
        self.flush()
        if self.last_processed is not None and not self.streams:
            await self.writer.drain()
            self.writer.close()


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--max-streams", type=int, default=0)
    parser.add_argument("--refuse-every", type=int, default=0)
    parser.add_argument("--goaway-after", type=int, default=0)
    parser.add_argument("--silent-after", type=int, default=0)
    parser.add_argument("--tls", nargs=2)
    parser.add_argument("--alpn", default="h2")
    args = parser.parse_args()
    context = None
    if args.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls[0], args.tls[1])
        context.set_alpn_protocols([args.alpn])

    async def serve(reader, writer):
        await Connection(reader, writer, args).run()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    print("listening %d" % server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
