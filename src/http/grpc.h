// gRPC over HTTP/2 as the gateway sees it: whether a request is a gRPC call, the status code an
// HTTP answer becomes, grpc-message's percent-encoding, and the client's grpc-timeout.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "http/message.h"
#include "pipeline/context.h"

namespace portcullis::http {

// content-type application/grpc, alone or with a +format or parameters.
bool is_grpc(const RequestHead& head);
// The grpc-status an HTTP answer of `status` stands for (DEADLINE_EXCEEDED for timeouts).
int grpc_status_of(int status, ErrorKind kind);
// Percent-encoded outside printable ASCII, and '%' itself.
void append_grpc_message(std::string& out, std::string_view message);
// The client's deadline from grpc-timeout (1-8 digits, then H, M, S, m, u or n); none when absent
// or malformed.
std::optional<std::chrono::nanoseconds> grpc_timeout(const RequestHead& head);

}  // namespace portcullis::http
