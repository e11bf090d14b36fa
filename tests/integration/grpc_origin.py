#!/usr/bin/python3
"""A gRPC origin for the gateway's tests, on Debian's python3-grpcio: generic handlers over raw
bytes (no generated code). Prints "listening PORT" once it serves.

Methods of /echo.Echo/:
  Unary         the request back; initial metadata x-origin (NAME), trailing metadata x-trailer
                and x-seen-client (the request's x-client); metadata fail=CODE answers that status
  ClientStream  the byte count of all request messages, as text
  ServerStream  the request message repeated as many times as its first byte says
  Bidi          each request message back as it comes
  Big           a reply of as many MiB as the request's first byte says
  Slow          the request back after as many tenths of a second as its first byte says

Usage: grpc_origin.py [NAME]  (NAME goes into the x-origin metadata)
"""
import sys
import time
from concurrent import futures

import grpc

NAME = sys.argv[1] if len(sys.argv) > 1 else "grpc-origin"


def metadata_of(context):
    return {k: v for k, v in context.invocation_metadata()}


def unary(request, context):
    md = metadata_of(context)
    context.send_initial_metadata((("x-origin", NAME),))
    if "fail" in md:
        context.set_trailing_metadata((("x-trailer", "failed"),))
        context.abort(grpc.StatusCode(next(c for c in grpc.StatusCode if c.value[0] == int(md["fail"]))),
                      "failed as asked")
    context.set_trailing_metadata((("x-trailer", "done"), ("x-seen-client", md.get("x-client", ""))))
    return request


def client_stream(requests, context):
    return str(sum(len(r) for r in requests)).encode()


def server_stream(request, context):
    for _ in range(request[0] if request else 0):
        yield request


def bidi(requests, context):
    for r in requests:
        yield r


def big(request, context):
    return b"x" * ((request[0] if request else 1) * 1024 * 1024)


def slow(request, context):
    time.sleep((request[0] if request else 1) / 10)
    return request


class Handler(grpc.GenericRpcHandler):
    methods = {
        "/echo.Echo/Unary": grpc.unary_unary_rpc_method_handler(unary),
        "/echo.Echo/ClientStream": grpc.stream_unary_rpc_method_handler(client_stream),
        "/echo.Echo/ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
        "/echo.Echo/Bidi": grpc.stream_stream_rpc_method_handler(bidi),
        "/echo.Echo/Big": grpc.unary_unary_rpc_method_handler(big),
        "/echo.Echo/Slow": grpc.unary_unary_rpc_method_handler(slow),
    }

    def service(self, handler_call_details):
        return self.methods.get(handler_call_details.method)


def main():
    options = [("grpc.max_send_message_length", 64 << 20), ("grpc.max_receive_message_length", 64 << 20)]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16), handlers=[Handler()], options=options)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("listening %d" % port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
