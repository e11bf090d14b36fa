#!/usr/bin/python3
"""One unary gRPC call through the gateway with Debian's python3-grpcio (a generic call on raw
bytes, so no generated code), printing its outcome as JSON: {"code": N, "details": "..."}.

Usage: grpc_call.py PORT /package.Service/Method [metadata-name=value ...]
"""
import json
import sys

import grpc


def main():
    port, method = int(sys.argv[1]), sys.argv[2]
    metadata = [tuple(item.split("=", 1)) for item in sys.argv[3:]]
    with grpc.insecure_channel("127.0.0.1:%d" % port) as channel:
        call = channel.unary_unary(method)
        try:
            reply = call(b"\x08\x01", timeout=10, metadata=metadata)
            print(json.dumps({"code": 0, "details": "", "reply": len(reply)}))
        except grpc.RpcError as error:
            print(json.dumps({"code": error.code().value[0], "details": error.details()}))


if __name__ == "__main__":
    main()
