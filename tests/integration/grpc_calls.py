#!/usr/bin/python3
"""gRPC calls of every kind through the gateway, with Debian's python3-grpcio (generic calls on raw
bytes), printing one JSON object of what each returned. The origin is grpc_origin.py.

Usage: grpc_calls.py PORT SCENARIO [metadata-name=value ...]
  unary        a unary call with x-client metadata (and any given); its reply, initial and
               trailing metadata
  failing      a unary call the origin fails with NOT_FOUND; the status, message and trailers
  client       a client-streaming call of 50 messages of 1 KiB
  server       a server-streaming call of 20 messages
  bidi         a bidirectional call where each message waits for the previous reply
  big          a unary call with a 3 MiB request and a 5 MiB reply
  deadline     a call with a 300 ms deadline to a method that takes 2 s
  concurrent   40 unary calls at once
"""
import json
import sys
import threading
import queue

import grpc


def code(error):
    return error.code().value[0]


def run(channel, scenario, extra):
    if scenario == "unary":
        call = channel.unary_unary("/echo.Echo/Unary")
        reply, info = call.with_call(b"hello", timeout=10, metadata=(("x-client", "yes"),) + extra)
        return {"reply": reply.decode(), "initial": dict(info.initial_metadata()),
                "trailing": dict(info.trailing_metadata()), "code": info.code().value[0]}
    if scenario == "failing":
        try:
            channel.unary_unary("/echo.Echo/Unary")(b"x", timeout=10, metadata=(("fail", "5"),))
            return {"code": 0}
        except grpc.RpcError as e:
            return {"code": code(e), "details": e.details(), "trailing": dict(e.trailing_metadata() or ())}
    if scenario == "client":
        reply = channel.stream_unary("/echo.Echo/ClientStream")(iter([b"y" * 1024] * 50), timeout=10)
        return {"reply": reply.decode()}
    if scenario == "server":
        replies = list(channel.unary_stream("/echo.Echo/ServerStream")(bytes([20]) + b"abc", timeout=10))
        return {"count": len(replies), "same": all(r == bytes([20]) + b"abc" for r in replies)}
    if scenario == "bidi":
        outbox = queue.Queue()
        outbox.put(b"m0")

        def requests():
            for i in range(10):
                item = outbox.get(timeout=10)  # the next message only once the last reply came
                yield item
        replies = []
        for i, reply in enumerate(channel.stream_stream("/echo.Echo/Bidi")(requests(), timeout=10)):
            replies.append(reply.decode())
            outbox.put(("m%d" % (i + 1)).encode())
        return {"replies": replies}
    if scenario == "big":
        request = bytes([5]) + b"z" * (3 * 1024 * 1024)
        reply = channel.unary_unary("/echo.Echo/Big")(request, timeout=20)
        return {"size": len(reply)}
    if scenario == "deadline":
        try:
            channel.unary_unary("/echo.Echo/Slow")(bytes([20]), timeout=0.3)
            return {"code": 0}
        except grpc.RpcError as e:
            return {"code": code(e), "details": e.details()}
    if scenario == "concurrent":
        results = []
        lock = threading.Lock()

        def one(i):
            try:
                r = channel.unary_unary("/echo.Echo/Unary")(("c%d" % i).encode(), timeout=10)
                ok = r == ("c%d" % i).encode()
            except grpc.RpcError:
                ok = False
            with lock:
                results.append(ok)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return {"ok": sum(results), "total": len(results)}
    raise SystemExit("unknown scenario " + scenario)


def main():
    port, scenario = int(sys.argv[1]), sys.argv[2]
    extra = tuple(tuple(item.split("=", 1)) for item in sys.argv[3:])
    options = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    with grpc.insecure_channel("127.0.0.1:%d" % port, options=options) as channel:
        try:
            print(json.dumps(run(channel, scenario, extra)))
        except grpc.RpcError as e:
            print(json.dumps({"error": code(e), "details": e.details()}))


if __name__ == "__main__":
    main()
