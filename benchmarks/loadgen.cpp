// portcullis-loadgen: the open-loop HTTP/1.1 load generator of benchmarks/overload.sh.
//
// Requests start on a fixed schedule (uniform spacing at --rate) whatever the answers do, and each
// one's latency counts from when it was due, not from when it could be sent. A closed-loop tool
// such as wrk sends less as soon as the server slows down, so it never meets the queue a real
// stream of clients would (coordinated omission), and it cannot tell the latency of successful
// requests from that of refusals. Each request goes out on an idle keep-alive connection; when none
// is idle a new one is opened, up to --connections, and past that the request is counted as
// client_dropped. Answers are split per class into success (2xx), shed (503, 429), other statuses,
// errors and timeouts (--timeout, from the due time; the connection is closed); the percentiles are
// of successful requests only. Requests due in the first --warmup seconds are sent but not counted.
// One thread, so it takes little of a machine it shares with the proxy and the backend. Prints one
// JSON object on stdout and a summary line per class on stderr.
//
//   portcullis-loadgen --url 'http://127.0.0.1:8080/sleep?ms=10' --rate 2000 --duration 15
//       [--connections 1000] [--timeout 1s] [--warmup 2]
//       [--class low:0.5:'X-Priority: 10' --class high:0.5:'X-Priority: 90']
#include <sys/resource.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http/parser.h"

namespace net = boost::asio;
namespace http = portcullis::http;
using boost::system::error_code;
using net::awaitable;
using net::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {

// Every asynchronous call reports errors as values: a refused or timed-out request is data here.
constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

constexpr std::size_t initial_buffer = 4 * 1024;
constexpr std::size_t max_head = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Latency histogram, log-linear as HDR's: exact below 256 µs, then each power of two is cut into
// 128 equal steps, so any reported value is within 0.8% of the true one, at any range.

class Histogram {
 public:
  void record(std::uint64_t us) {
    std::size_t i = index(us);
    if (i >= counts_.size()) counts_.resize(i + 1);
    ++counts_[i];
    ++total_;
    max_ = std::max(max_, us);
  }

  void merge(const Histogram& other) {
    if (other.counts_.size() > counts_.size()) counts_.resize(other.counts_.size());
    for (std::size_t i = 0; i < other.counts_.size(); ++i) counts_[i] += other.counts_[i];
    total_ += other.total_;
    max_ = std::max(max_, other.max_);
  }

  std::uint64_t count() const { return total_; }
  double max_ms() const { return static_cast<double>(max_) / 1000.0; }

  // The smallest recorded value that at least p of all values do not exceed, in milliseconds.
  double percentile_ms(double p) const {
    auto rank = static_cast<std::uint64_t>(std::ceil(p * static_cast<double>(total_)));
    rank = std::max<std::uint64_t>(rank, 1);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return static_cast<double>(std::min(middle(i), max_)) / 1000.0;
    }
    return max_ms();
  }

 private:
  static constexpr int sub_bits = 7;
  static constexpr std::uint64_t sub = std::uint64_t{1} << sub_bits;

  static std::size_t index(std::uint64_t v) {
    int shift = std::max(0, static_cast<int>(std::bit_width(v)) - 1 - sub_bits);
    return static_cast<std::size_t>(shift) * sub + static_cast<std::size_t>(v >> shift);
  }
  static std::uint64_t middle(std::size_t i) {
    if (i < 2 * sub) return i;
    int shift = static_cast<int>(i >> sub_bits) - 1;
    std::uint64_t low = (i - static_cast<std::size_t>(shift) * sub) << shift;
    return low + ((std::uint64_t{1} << shift) >> 1);
  }

  std::vector<std::uint64_t> counts_;
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Options

struct TrafficClass {
  std::string name;
  double fraction = 1.0;
  std::string header;   // "Name: value", or empty
  std::string request;  // the whole request, built once
  double credit = 0;    // for the interleave

  // What happened to the requests due after the warm-up.
  std::uint64_t offered = 0, ok = 0, shed = 0, other = 0, errors = 0, timeouts = 0, dropped = 0;
  Histogram latency;  // of successful requests, µs from the due time
};

struct Options {
  std::string host;
  std::string port;
  std::string target;  // path and query
  double rate = 0;
  double duration = 0;
  double warmup = 0;
  std::size_t connections = 1000;
  double timeout = 1.0;
  std::vector<TrafficClass> classes;
};

constexpr const char* usage =
    "usage: portcullis-loadgen --url http://HOST:PORT/PATH --rate REQ_PER_S --duration SECONDS\n"
    "         [--connections MAX (1000)] [--timeout DURATION (1s)] [--warmup SECONDS (0)]\n"
    "         [--class NAME:FRACTION:HEADER]...   e.g. --class low:0.5:'X-Priority: 10'\n"
    "durations: 15, 15s, 500ms\n";

// "2", "2s", "250ms".
std::optional<double> parse_seconds(std::string_view s) {
  double scale = 1.0;
  if (s.ends_with("ms")) {
    scale = 1e-3;
    s.remove_suffix(2);
  } else if (s.ends_with('s')) {
    s.remove_suffix(1);
  }
  std::string text(s);
  char* end = nullptr;
  double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !(v >= 0) || !std::isfinite(v)) return std::nullopt;
  return v * scale;
}

// http://host:port/path?query; the host is an IP address or a name resolved once.
bool parse_url(std::string_view url, Options& o) {
  if (!url.starts_with("http://")) return false;
  url.remove_prefix(7);
  std::size_t slash = url.find('/');
  std::string_view authority = url.substr(0, slash);
  o.target = slash == std::string_view::npos ? "/" : std::string(url.substr(slash));
  std::size_t colon = authority.rfind(':');
  if (colon == std::string_view::npos || colon == 0) return false;
  o.host = authority.substr(0, colon);
  o.port = authority.substr(colon + 1);
  return !o.port.empty() && o.target.find_first_of(" \r\n") == std::string::npos;
}

// NAME:FRACTION:HEADER. The header holds a colon of its own, so only the first two split.
std::optional<TrafficClass> parse_class(std::string_view s) {
  std::size_t a = s.find(':');
  std::size_t b = a == std::string_view::npos ? a : s.find(':', a + 1);
  if (b == std::string_view::npos || a == 0) return std::nullopt;
  TrafficClass c;
  c.name = s.substr(0, a);
  std::string fraction(s.substr(a + 1, b - a - 1));
  char* end = nullptr;
  c.fraction = std::strtod(fraction.c_str(), &end);
  if (fraction.empty() || *end != '\0' || !(c.fraction > 0)) return std::nullopt;
  c.header = s.substr(b + 1);
  if (c.header.find_first_of("\r\n") != std::string::npos) return std::nullopt;
  if (!c.header.empty() && c.header.find(':') == std::string::npos) return std::nullopt;
  return c;
}

bool apply_option(std::string_view key, std::string_view value, Options& o) {
  if (key == "--url") return parse_url(value, o);
  if (key == "--class") {
    std::optional<TrafficClass> c = parse_class(value);
    if (c) o.classes.push_back(std::move(*c));
    return c.has_value();
  }
  if (key == "--connections") {
    long n = std::strtol(std::string(value).c_str(), nullptr, 10);
    o.connections = static_cast<std::size_t>(std::max(n, 0L));
    return n > 0;
  }
  std::optional<double> v = parse_seconds(value);  // the rest are numbers
  if (!v) return false;
  if (key == "--rate") o.rate = *v;
  else if (key == "--duration") o.duration = *v;
  else if (key == "--warmup") o.warmup = *v;
  else if (key == "--timeout") o.timeout = *v;
  else return false;
  return true;
}

std::optional<Options> parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view key = argv[i];
    if (key == "-h" || key == "--help") {
      std::fputs(usage, stdout);
      std::exit(0);
    }
    if (i + 1 >= argc || !apply_option(key, argv[i + 1], o)) {
      std::fprintf(stderr, "bad argument %s\n%s", argv[i], usage);
      return std::nullopt;
    }
    ++i;
  }
  if (o.host.empty() || o.rate <= 0 || o.duration <= 0 || o.warmup >= o.duration || o.timeout <= 0) {
    std::fputs(usage, stderr);
    return std::nullopt;
  }
  if (o.classes.empty()) o.classes.emplace_back().name = "all";
  for (TrafficClass& c : o.classes) {
    c.request = "GET " + o.target + " HTTP/1.1\r\nHost: " + o.host + ":" + o.port + "\r\n";
    if (!c.header.empty()) c.request += c.header + "\r\n";
    c.request += "\r\n";
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// One client connection: a socket, the deadline of the request on it, and a read buffer.

struct Connection {
  explicit Connection(const net::any_io_executor& executor) : socket(executor), deadline(executor) {}

  std::string_view data() const { return {buffer.data() + begin, end - begin}; }
  void consume(std::size_t n) {
    begin += n;
    if (begin == end) begin = end = 0;
  }
  // Reads more; a head larger than max_head is an error.
  awaitable<error_code> fill() {
    if (end == buffer.size()) {
      std::copy(buffer.begin() + static_cast<std::ptrdiff_t>(begin), buffer.begin() + static_cast<std::ptrdiff_t>(end),
                buffer.begin());
      end -= begin;
      begin = 0;
      if (end == buffer.size() && buffer.size() >= max_head) co_return net::error::no_buffer_space;
      if (end == buffer.size()) buffer.resize(buffer.size() * 2);
    }
    auto [ec, n] = co_await socket.async_read_some(net::buffer(buffer.data() + end, buffer.size() - end), use_nothrow);
    end += n;
    co_return ec;
  }

  tcp::socket socket;
  net::steady_timer deadline;
  std::uint64_t generation = 0;  // bumped per request, so a stale deadline cannot close a later one
  bool connected = false;
  bool timed_out = false;
  std::vector<char> buffer = std::vector<char>(initial_buffer);
  std::size_t begin = 0;
  std::size_t end = 0;
};

enum class Failure { none, io, protocol };

struct Answer {
  int status = 0;
  Failure failure = Failure::none;
  bool keep_alive = false;
};

// Reads and drops the body of a response whose head was just consumed.
awaitable<Failure> skip_body(Connection& c, const http::ResponseHead& head, const http::ResponseFraming& framing) {
  if (head.chunked) {
    http::ChunkedDecoder decoder;
    for (;;) {
      std::string_view in = c.data(), piece;
      http::ChunkedDecoder::Result r = decoder.next(in, piece);
      c.consume(c.data().size() - in.size());
      if (r == http::ChunkedDecoder::Result::done) co_return Failure::none;
      if (r == http::ChunkedDecoder::Result::error) co_return Failure::protocol;
      if (r == http::ChunkedDecoder::Result::need_more && co_await c.fill()) co_return Failure::io;
    }
  }
  if (framing.until_close) {
    for (;;) {
      c.consume(c.data().size());
      error_code ec = co_await c.fill();
      if (ec == net::error::eof) co_return Failure::none;
      if (ec) co_return Failure::io;
    }
  }
  for (std::uint64_t left = head.content_length;;) {
    std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(left, c.data().size()));
    c.consume(n);
    left -= n;
    if (left == 0) co_return Failure::none;
    if (co_await c.fill()) co_return Failure::io;
  }
}

awaitable<Answer> read_response(Connection& c) {
  http::ResponseHead head;
  http::ResponseFraming framing;
  for (;;) {
    http::ParseResult parsed = http::parse_response_head(c.data(), max_head, head, framing);
    if (parsed.status == http::ParseStatus::error) co_return Answer{0, Failure::protocol};
    if (parsed.status == http::ParseStatus::complete) {
      c.consume(head.head_bytes);  // the views in head die here; only its numbers are used
      if (head.status >= 200) break;
      continue;  // an interim 1xx answer
    }
    if (co_await c.fill()) co_return Answer{0, Failure::io};
  }
  Failure body = co_await skip_body(c, head, framing);
  co_return Answer{head.status, body, body == Failure::none && head.keep_alive};
}

// ---------------------------------------------------------------------------------------------
// The generator: the schedule, the connection pool and the counting.

class Generator {
 public:
  Generator(net::any_io_executor executor, Options options, tcp::endpoint target)
      : executor_(std::move(executor)),
        o_(std::move(options)),
        target_(target),
        timeout_(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o_.timeout))) {
    for (const TrafficClass& c : o_.classes) total_fraction_ += c.fraction;
  }

  awaitable<void> run();
  nlohmann::ordered_json report() const;
  void summarize() const;

 private:
  TrafficClass& next_class();
  void launch(TrafficClass& c, Clock::time_point due, bool counted);
  awaitable<void> exchange(std::shared_ptr<Connection> conn, TrafficClass& c, Clock::time_point due, bool counted);
  awaitable<Answer> attempt(Connection& conn, std::string_view request);
  nlohmann::ordered_json class_report(const TrafficClass& c) const;

  net::any_io_executor executor_;
  Options o_;
  tcp::endpoint target_;
  Clock::duration timeout_;
  double total_fraction_ = 0;
  std::vector<std::shared_ptr<Connection>> idle_;  // used last in, first out: warm ones first
  std::size_t open_ = 0;
  std::size_t most_open_ = 0;
  std::uint64_t opened_ = 0;
  std::size_t in_flight_ = 0;
};

// Smooth weighted round robin: each class gets its share evenly spread, the same every run.
TrafficClass& Generator::next_class() {
  TrafficClass* best = nullptr;
  for (TrafficClass& c : o_.classes) {
    c.credit += c.fraction;
    if (!best || c.credit > best->credit) best = &c;
  }
  best->credit -= total_fraction_;
  return *best;
}

awaitable<void> Generator::run() {
  net::steady_timer timer(executor_);
  const auto start = Clock::now() + 10ms;
  const auto total = static_cast<std::uint64_t>(std::llround(o_.rate * o_.duration));
  const auto warm = static_cast<std::uint64_t>(std::llround(o_.rate * o_.warmup));
  for (std::uint64_t i = 0; i < total; ++i) {
    auto due = start + std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / o_.rate));
    if (due > Clock::now()) {
      timer.expires_at(due);
      co_await timer.async_wait(use_nothrow);
    }
    launch(next_class(), due, i >= warm);  // late wake-ups send at once: the latency still counts from due
  }
  // The stragglers: each ends by its timeout at the latest.
  const auto until = Clock::now() + timeout_ + 1s;
  while (in_flight_ > 0 && Clock::now() < until) {
    timer.expires_after(5ms);
    co_await timer.async_wait(use_nothrow);
  }
  error_code ignored;
  for (auto& conn : idle_) conn->socket.close(ignored);
  idle_.clear();
}

void Generator::launch(TrafficClass& c, Clock::time_point due, bool counted) {
  if (counted) ++c.offered;
  std::shared_ptr<Connection> conn;
  if (!idle_.empty()) {
    conn = std::move(idle_.back());
    idle_.pop_back();
  } else if (open_ < o_.connections) {
    conn = std::make_shared<Connection>(executor_);
    ++open_;
    ++opened_;
    most_open_ = std::max(most_open_, open_);
  } else {
    if (counted) ++c.dropped;
    return;
  }
  ++in_flight_;
  net::co_spawn(executor_, exchange(conn, c, due, counted), net::detached);
}

awaitable<Answer> Generator::attempt(Connection& conn, std::string_view request) {
  if (!conn.connected) {
    auto [ec] = co_await conn.socket.async_connect(target_, use_nothrow);
    if (ec) co_return Answer{0, Failure::io};
    conn.socket.set_option(tcp::no_delay(true), ec);
    conn.connected = true;
  }
  auto [ec, n] = co_await net::async_write(conn.socket, net::buffer(request), use_nothrow);
  if (ec) co_return Answer{0, Failure::io};
  co_return co_await read_response(conn);
}

awaitable<void> Generator::exchange(std::shared_ptr<Connection> conn, TrafficClass& c, Clock::time_point due,
                                    bool counted) {
  const std::uint64_t generation = ++conn->generation;
  conn->deadline.expires_at(due + timeout_);
  conn->deadline.async_wait([conn, generation](error_code ec) {
    if (ec || conn->generation != generation) return;
    conn->timed_out = true;
    conn->socket.close(ec);  // fails whatever the request waits on
  });
  Answer answer = co_await attempt(*conn, c.request);
  auto latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - due);
  ++conn->generation;  // a deadline that fired but has not run yet must not close the next request
  conn->deadline.cancel();
  if (counted) {
    if (conn->timed_out) ++c.timeouts;
    else if (answer.failure != Failure::none) ++c.errors;
    else if (answer.status >= 200 && answer.status < 300) {
      ++c.ok;
      c.latency.record(static_cast<std::uint64_t>(latency.count()));
    } else if (answer.status == 503 || answer.status == 429) ++c.shed;
    else ++c.other;
  }
  if (answer.keep_alive && !conn->timed_out) {
    idle_.push_back(std::move(conn));
  } else {
    error_code ignored;
    conn->socket.close(ignored);
    --open_;
  }
  --in_flight_;
}

nlohmann::ordered_json Generator::class_report(const TrafficClass& c) const {
  const double measured = o_.duration - o_.warmup;
  const double offered = std::max<double>(static_cast<double>(c.offered), 1.0);
  nlohmann::ordered_json j;
  j["name"] = c.name;
  j["fraction"] = c.fraction / total_fraction_;
  j["header"] = c.header;
  j["offered"] = c.offered;
  j["sent"] = c.offered - c.dropped;
  j["ok"] = c.ok;
  j["shed"] = c.shed;
  j["other_status"] = c.other;
  j["errors"] = c.errors;
  j["timeouts"] = c.timeouts;
  j["client_dropped"] = c.dropped;
  j["goodput"] = static_cast<double>(c.ok) / measured;
  j["success_rate"] = static_cast<double>(c.ok) / offered;
  j["shed_rate"] = static_cast<double>(c.shed) / offered;
  j["failed_rate"] = static_cast<double>(c.other + c.errors + c.timeouts + c.dropped) / offered;
  if (c.latency.count() == 0) {
    j["latency_ms"] = nullptr;
  } else {
    j["latency_ms"] = {{"p50", c.latency.percentile_ms(0.50)},
                       {"p90", c.latency.percentile_ms(0.90)},
                       {"p99", c.latency.percentile_ms(0.99)},
                       {"max", c.latency.max_ms()}};
  }
  return j;
}

nlohmann::ordered_json Generator::report() const {
  TrafficClass all;
  all.name = "total";
  for (const TrafficClass& c : o_.classes) {
    all.fraction = total_fraction_;
    all.offered += c.offered;
    all.ok += c.ok;
    all.shed += c.shed;
    all.other += c.other;
    all.errors += c.errors;
    all.timeouts += c.timeouts;
    all.dropped += c.dropped;
    all.latency.merge(c.latency);
  }
  nlohmann::ordered_json j;
  j["url"] = "http://" + o_.host + ":" + o_.port + o_.target;
  j["rate"] = o_.rate;
  j["duration_s"] = o_.duration;
  j["warmup_s"] = o_.warmup;
  j["timeout_s"] = o_.timeout;
  j["connections_max"] = o_.connections;
  j["connections_opened"] = opened_;
  j["connections_most_open"] = most_open_;
  j["total"] = class_report(all);
  j["classes"] = nlohmann::ordered_json::array();
  for (const TrafficClass& c : o_.classes) j["classes"].push_back(class_report(c));
  return j;
}

void Generator::summarize() const {
  const nlohmann::ordered_json all = report();
  for (const auto& c : all["classes"]) {
    const auto& l = c["latency_ms"];
    std::fprintf(stderr,
                 "loadgen %s: offered %llu, ok %.1f%%, shed %.1f%%, failed %.1f%%, goodput %.0f/s, "
                 "p50 %.2f ms, p99 %.2f ms\n",
                 c["name"].get<std::string>().c_str(), c["offered"].get<unsigned long long>(),
                 100 * c["success_rate"].get<double>(), 100 * c["shed_rate"].get<double>(),
                 100 * c["failed_rate"].get<double>(), c["goodput"].get<double>(),
                 l.is_null() ? 0.0 : l["p50"].get<double>(), l.is_null() ? 0.0 : l["p99"].get<double>());
  }
}

// Many connections need descriptors: take the hard limit.
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<Options> options = parse_options(argc, argv);
  if (!options) return 2;
  raise_descriptor_limit();
  net::io_context io(1);
  error_code ec;
  tcp::resolver resolver(io);
  auto endpoints = resolver.resolve(options->host, options->port, ec);
  if (ec || endpoints.empty()) {
    std::fprintf(stderr, "portcullis-loadgen: cannot resolve %s:%s\n", options->host.c_str(), options->port.c_str());
    return 1;
  }
  Generator generator(io.get_executor(), std::move(*options), endpoints.begin()->endpoint());
  net::co_spawn(io, generator.run(), net::detached);
  io.run();
  std::printf("%s\n", generator.report().dump().c_str());
  generator.summarize();
  return 0;
}
