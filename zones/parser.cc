#include "zones/parser.hh"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "zones/rdata.hh"
#include "zones/rdata_text.hh"
#include "zones/rrtype.hh"
#include "zones/wire.hh"

namespace edgedns::zones {
namespace {

// Reads are this large: a handful of syscalls for a 25 MB zone while the
// resident input buffer stays small next to the records themselves.
constexpr size_t kChunk = size_t(4) << 20;
// Keep reporting after an error so an operator fixes many at once, but stop
// before a garbage file floods the terminal.
constexpr size_t kMaxErrors = 100;
// ZoneData::files is indexed by a uint8_t in every Record.
constexpr size_t kMaxFiles = 256;

// ---------------------------------------------------------------------------
// Input: either caller-owned text, or a file read in chunks (pread, so that
// two threads can read one descriptor at different offsets) into a buffer
// that only grows when one entry is larger than the buffer. Either may start
// at an offset and stop at a limit (the split point of a two-thread parse):
// at the limit there is no more data but no end of file either, so an entry
// that runs over the limit shows as NeedMore with at_limit().
// ---------------------------------------------------------------------------
class Input {
 public:
  Input(std::string_view text, size_t start)
      : text_(text),
        data_(text.data() + start),
        end_(text.size() - start),
        base_(start),
        eof_(true) {}
  // `seekable`: read with pread from `start` (else read(2) from where the
  // descriptor is, for pipes; then `start` must be 0 and no limit is set).
  Input(int fd, uint64_t start, bool seekable = true)
      : base_(start),
        fd_(fd),
        seekable_(seekable),
        own_(new char[kChunk]),
        cap_(kChunk),
        off_(start) {
    data_ = own_.get();
    read_more();
  }
  Input(const Input&) = delete;
  Input& operator=(const Input&) = delete;

  const char* data() const noexcept { return data_; }
  size_t end() const noexcept { return end_; }
  bool eof() const noexcept { return eof_; }
  int read_error() const noexcept { return errno_; }
  // Offset (in the file or text) of data()[0].
  uint64_t base() const noexcept { return base_; }
  bool at_limit() const noexcept { return !eof_ && base_ + end_ >= limit_; }

  // Makes `limit` the end of the input until lift_limit(). Bytes already
  // buffered beyond it are dropped (and read again after lift_limit).
  void set_limit(uint64_t limit) {
    limit_ = limit;
    if (base_ + end_ > limit) {
      end_ = size_t(limit - base_);
      off_ = limit;
    }
    if (own_) eof_ = false;
    else eof_ = base_ + end_ >= text_.size();
  }
  void lift_limit() {
    limit_ = UINT64_MAX;
    if (own_) {
      if (!errno_) eof_ = false;
      read_more();
    } else {
      end_ = size_t(text_.size() - base_);
      eof_ = true;
    }
  }

  // Drops everything before `keep_from` and reads more (callers rebase their
  // offsets: position keep_from becomes 0).
  void refill(size_t keep_from) {
    if (!own_) {  // text: nothing to read, only move the window
      data_ += keep_from;
      end_ -= keep_from;
      base_ += keep_from;
      return;
    }
    size_t keep = end_ - keep_from;
    if (keep_from == 0 && keep == cap_) {
      // One entry fills the whole buffer: grow it.
      std::unique_ptr<char[]> bigger(new char[cap_ * 2]);
      std::memcpy(bigger.get(), own_.get(), keep);
      own_ = std::move(bigger);
      cap_ *= 2;
    } else if (keep_from) {
      std::memmove(own_.get(), own_.get() + keep_from, keep);
    }
    data_ = own_.get();
    end_ = keep;
    base_ += keep_from;
    read_more();
  }

 private:
  void read_more() {
    while (end_ < cap_ && !eof_) {
      size_t want = cap_ - end_;
      if (limit_ != UINT64_MAX) {
        if (off_ >= limit_) return;
        want = size_t(std::min<uint64_t>(want, limit_ - off_));
      }
      ssize_t n = seekable_ ? ::pread(fd_, own_.get() + end_, want, off_t(off_))
                            : ::read(fd_, own_.get() + end_, want);
      if (n < 0) {
        if (errno == EINTR) continue;
        errno_ = errno;
        eof_ = true;
        return;
      }
      if (n == 0) {
        eof_ = true;
        return;
      }
      end_ += size_t(n);
      off_ += uint64_t(n);
    }
  }

  std::string_view text_;
  const char* data_ = nullptr;
  size_t end_ = 0;
  uint64_t base_ = 0;
  bool eof_ = false;
  int fd_ = -1;
  bool seekable_ = true;
  int errno_ = 0;
  std::unique_ptr<char[]> own_;
  size_t cap_ = 0;
  uint64_t off_ = 0;  // next file offset to read
  uint64_t limit_ = UINT64_MAX;
};

// One logical entry (a record or a directive): the tokens of one line, or of
// several lines joined by parentheses. Tokens point into the input buffer.
struct Entry {
  std::vector<RdataToken> toks;
  bool blank_owner = false;  // line began with a blank: owner omitted
  uint32_t line = 0;         // line the entry starts on
  struct Err {
    uint32_t line;
    const char* msg;
  };
  std::vector<Err> errors;  // tokenizer findings (rare)
  void clear() {
    toks.clear();
    errors.clear();
    blank_owner = false;
  }
};

enum class Scan { Ok, NeedMore, Eof };

// Bytes that end a token or need a look inside one (escape, quote).
constexpr auto kSpecial = [] {
  std::array<bool, 256> t{};
  for (char c : {' ', '\t', '\n', '\r', ';', '(', ')', '\\', '"'}) t[uint8_t(c)] = true;
  return t;
}();

inline bool is_blank(char c) noexcept { return c == ' ' || c == '\t' || c == '\r'; }

// Splits one entry starting at `pos` (always the start of a line). On
// NeedMore nothing is consumed: the caller refills and scans again.
Scan scan_entry(const char* d, size_t end, bool eof, size_t& pos, uint32_t& line, Entry& e) {
  e.clear();
  size_t p = pos;
  uint32_t ln = line;
  e.line = ln;
  if (p >= end) return eof ? Scan::Eof : Scan::NeedMore;
  e.blank_owner = d[p] == ' ' || d[p] == '\t';
  int depth = 0;
  uint32_t paren_line = 0;
  size_t paren_pos = 0;
  for (;;) {
    if (p >= end) {
      if (!eof) return Scan::NeedMore;
      if (depth > 0) {
        e.errors.push_back({paren_line, "unbalanced parenthesis: '(' opened here is never closed"});
        // Resume on the line after the '(' so that later errors are reported too.
        size_t nl = paren_pos;
        while (nl < end && d[nl] != '\n') ++nl;
        pos = nl < end ? nl + 1 : end;
        line = paren_line + 1;
        return Scan::Ok;
      }
      break;
    }
    char c = d[p];
    if (c == '\n') {
      ++ln;
      ++p;
      if (depth == 0) break;
      continue;
    }
    if (is_blank(c)) {
      ++p;
      continue;
    }
    if (c == ';') {
      while (p < end && d[p] != '\n') ++p;
      continue;
    }
    if (c == '(') {
      if (depth++ == 0) {
        paren_line = ln;
        paren_pos = p;
      }
      ++p;
      continue;
    }
    if (c == ')') {
      if (depth == 0) e.errors.push_back({ln, "unbalanced parenthesis: ')' without '('"});
      else --depth;
      ++p;
      continue;
    }
    if (c == '"') {
      size_t q = p + 1;
      uint32_t l2 = ln;
      while (q < end && d[q] != '"') {
        if (d[q] == '\\' && q + 1 < end) ++q;
        if (d[q] == '\n') ++l2;
        ++q;
      }
      if (q >= end) {
        if (!eof) return Scan::NeedMore;
        e.errors.push_back({ln, "unterminated quoted string"});
        p = end;
        ln = l2;
        continue;
      }
      e.toks.push_back({std::string_view(d + p + 1, q - p - 1), true});
      ln = l2;
      p = q + 1;
      continue;
    }
    size_t q = p;
    bool unterminated = false;
    while (q < end) {
      // Plain token bytes in one table lookup (most of a zone file's bytes).
      while (q < end && !kSpecial[uint8_t(d[q])]) ++q;
      if (q >= end) break;
      char x = d[q];
      if (x == ' ' || x == '\t' || x == '\n' || x == '\r' || x == ';' || x == '(' || x == ')')
        break;
      if (x == '\\') {
        if (q + 1 < end && d[q + 1] == '\n') ++ln;
        q += 2;
        continue;
      }
      if (x == '"') {  // key="value" (SVCB): the quoted part stays in the token
        ++q;
        while (q < end && d[q] != '"') {
          if (d[q] == '\\') ++q;
          else if (d[q] == '\n') ++ln;
          ++q;
        }
        if (q >= end) {
          unterminated = true;
          break;
        }
        ++q;
        continue;
      }
      ++q;
    }
    if (q >= end && !eof) return Scan::NeedMore;
    if (q > end) q = end;
    if (unterminated) e.errors.push_back({ln, "unterminated quoted string"});
    e.toks.push_back({std::string_view(d + p, q - p), false});
    p = q;
  }
  pos = p;
  line = ln;
  return Scan::Ok;
}

bool iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (lower_ascii(uint8_t(a[i])) != lower_ascii(uint8_t(b[i]))) return false;
  return true;
}

std::string quote(std::string_view s) {
  std::string q;  // built by appends: GCC 12 warns falsely on "'" + std::string
  q.reserve(s.size() + 2);
  q += '\'';
  q += s;
  q += '\'';
  return q;
}

bool is_meta_type(uint16_t t) noexcept {
  return t == rrtype::OPT || t == rrtype::ANY || t == rrtype::AXFR || t == rrtype::IXFR ||
         t == 249 /* TKEY */ || t == 250 /* TSIG */;
}

// What one file (and, restored afterwards, each $INCLUDE) carries.
struct State {
  uint8_t origin[kMaxName];
  size_t olen = 0;
  uint8_t owner[kMaxName];
  size_t owner_len = 0;
  bool owner_bad = false;  // the last explicit owner failed: skip its records quietly
  uint32_t last_ttl = 0;
  bool last_ttl_known = false;
  uint32_t default_ttl = 0;  // $TTL
  bool default_ttl_known = false;
  // Second half of a two-thread parse: the state above is a guess (the one
  // after the head of the file); these say which guessed values it read
  // before setting its own, so that the guess can be checked afterwards
  // against the state the first half really ends with.
  bool speculative = false;
  bool owner_local = false;    // an owner was set in this half
  bool ttl_local = false;      // a record (hence last_ttl) was added in this half
  bool read_owner = false;     // inherited the guessed owner
  bool read_last_ttl = false;  // read the guessed last_ttl / last_ttl_known / warning flag
};

// Where a file or a text is being read: the input and the position in it.
struct Cursor {
  Input& in;
  size_t pos = 0;  // into in.data()
  uint32_t line = 1;
  uint64_t offset() const noexcept { return in.base() + pos; }
};

enum class RunEnd { Eof, Stopped, Boundary, Limit, Cancelled };

// The main file's bytes, for the two-thread parse: text, or a file by descriptor.
struct Source {
  std::string_view text;
  int fd = -1;
  uint64_t size = 0;
  Input open(uint64_t start) const {
    return fd >= 0 ? Input(fd, start) : Input(text, size_t(start));
  }
  // Up to `n` bytes at `off` (fewer at the end).
  std::string read(uint64_t off, size_t n) const {
    if (off >= size) return {};
    n = size_t(std::min<uint64_t>(n, size - off));
    if (fd < 0) return std::string(text.substr(size_t(off), n));
    std::string b(n, '\0');
    size_t got = 0;
    while (got < n) {
      ssize_t r = ::pread(fd, b.data() + got, n - got, off_t(off + got));
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += size_t(r);
    }
    b.resize(got);
    return b;
  }
};

class Parser {
 public:
  Parser(const ParseOptions& o, ParseResult& r) : opts_(o), res_(r), z_(r.zone) {
    rdata_.reserve(65536 + 64);
    entry_.toks.reserve(64);
  }

  void set_origin_from_options(State& st) {
    if (opts_.origin.empty()) return;
    uint8_t root = 0;
    const char* err = nullptr;
    size_t n = name_from_text(opts_.origin, &root, 1, st.origin, &err);
    if (n == 0) {
      error(0, 0, "bad origin " + quote(opts_.origin) + ": " + err);
      return;
    }
    st.olen = n;
    set_zone_origin(st.origin, n);
  }

  void reserve_for(size_t bytes) {
    // About 25 bytes of text per A record; the arena needs about as much as the
    // text. Untouched reserved pages cost no RSS, so err on the large side to
    // avoid a copy of a half-full vector at 1M records.
    z_.reserve(z_.records.size() + bytes / 20 + 16, z_.arena.size() + bytes + bytes / 2 + 256);
  }

  // Parses a whole file or text (the main one: two threads when it is large).
  void run_main(const Source& src, uint8_t file, State& st, const std::string& dir);
  void run(Input& in, uint8_t file, State& st, int depth, const std::string& dir) {
    Cursor c{in};
    run_until(c, file, st, depth, dir, UINT64_MAX);
    if (in.read_error())
      error(file, c.line, std::string("read error: ") + std::strerror(in.read_error()));
  }
  bool run_file(const std::string& path, uint8_t file, State& st, int depth, uint32_t from_line,
                uint8_t from_file);

  void finish() {
    if (!zone_origin_set_ && !stopped_)
      error(0, 0,
            "cannot determine the zone origin: no origin given, no $ORIGIN and no SOA with an "
            "absolute owner");
  }

  uint8_t add_file(const std::string& path) {
    z_.files.push_back(path);
    return uint8_t(z_.files.size() - 1);
  }
  void error(uint8_t file, uint32_t line, std::string msg) {
    if (stopped_) return;
    if (++errors_ > kMaxErrors) {
      res_.diagnostics.push_back(
          {Diagnostic::Severity::Error, fname(file), line, "too many errors, giving up"});
      stopped_ = true;
      return;
    }
    res_.diagnostics.push_back({Diagnostic::Severity::Error, fname(file), line, std::move(msg)});
  }
  void warning(uint8_t file, uint32_t line, std::string msg) {
    res_.diagnostics.push_back({Diagnostic::Severity::Warning, fname(file), line, std::move(msg)});
  }
  bool stopped() const noexcept { return stopped_; }
  std::vector<std::string> include_stack;  // realpaths, for loop detection

 private:
  std::string fname(uint8_t file) const {
    return file < z_.files.size() ? z_.files[file] : std::string();
  }
  void set_zone_origin(const uint8_t* o, size_t n) {
    if (zone_origin_set_) return;
    z_.origin = Name::from_wire(o, n).lower();
    zone_origin_set_ = true;
  }
  // Parses entries until the end of the input, or until the first entry
  // boundary at or after `boundary` (an offset in the input).
  RunEnd run_until(Cursor& c, uint8_t file, State& st, int depth, const std::string& dir,
                   uint64_t boundary);
  void entry(uint8_t file, State& st, int depth, const std::string& dir);
  void directive(uint8_t file, State& st, int depth, const std::string& dir);
  void generate(uint8_t file, State& st);
  void record(uint8_t file, uint32_t line, State& st, std::span<const RdataToken> toks,
              bool blank_owner);
  bool add_record(uint8_t file, uint32_t line, State& st, const uint8_t* owner, size_t owner_len,
                  uint16_t type, bool have_ttl, uint32_t ttl, std::span<const RdataToken> rd);
  // The second half of a two-thread parse (see run_main); run on its own thread.
  void run_second_half(const Source& src, uint64_t split, uint8_t file, State& st);
  bool merge_second_half(Parser& p2, const State& guess, bool guess_warned, State& st,
                         const State& st2, uint32_t line_at_split);

  const ParseOptions& opts_;
  ParseResult& res_;
  ZoneData& z_;
  bool zone_origin_set_ = false;
  bool stopped_ = false;
  size_t errors_ = 0;
  bool warned_default_ttl_ = false;
  bool warned_max_records_ = false;
  // Second half only: $INCLUDE seen (the half gives up: file indices and
  // include loops need the first half), or told to stop.
  bool gave_up_ = false;
  const std::atomic<bool>* cancel_ = nullptr;
  std::vector<uint8_t> rdata_;
  Entry entry_;
};

RunEnd Parser::run_until(Cursor& c, uint8_t file, State& st, int depth, const std::string& dir,
                         uint64_t boundary) {
  Input& in = c.in;
  for (;;) {
    if (stopped_ || gave_up_) return RunEnd::Stopped;
    if (cancel_ && cancel_->load(std::memory_order_relaxed)) return RunEnd::Cancelled;
    if (c.offset() >= boundary) return RunEnd::Boundary;
    size_t start = c.pos;
    uint32_t start_line = c.line;
    Scan s = scan_entry(in.data(), in.end(), in.eof(), c.pos, c.line, entry_);
    if (s == Scan::NeedMore) {
      if (in.at_limit()) return RunEnd::Limit;  // nothing consumed: the entry runs over the limit
      in.refill(start);
      c.pos = 0;
      c.line = start_line;
      continue;
    }
    if (s == Scan::Eof) return RunEnd::Eof;
    for (const auto& e : entry_.errors) error(file, e.line, e.msg);
    if (!entry_.errors.empty()) continue;
    if (entry_.toks.empty()) continue;
    entry(file, st, depth, dir);
  }
}

// Two threads for a large main file. The first thread parses a head (a
// little of the file: it sets the origin and the $TTL in any usual zone),
// picks a split point near the middle at the start of a line that names its
// owner, and starts the second thread there with a copy of its state as a
// guess of the state at the split. It then parses up to the split. The
// second half's records and diagnostics are appended when the split turns out
// to be an entry boundary (no parenthesis or quote open across it) and every
// guessed value the second half read equals the real one (origin, $TTL,
// and, if the second half read them before setting its own, the previous
// owner and TTL); else the first thread parses the second half itself, as a
// one-thread parse would. Either way the result is the same, diagnostics
// included, as that of one thread.
void Parser::run_main(const Source& src, uint8_t file, State& st, const std::string& dir) {
  Input in = src.open(0);
  Cursor c{in};
  const bool two = src.size >= std::max<size_t>(opts_.parallel_min_bytes, 2) &&
                   opts_.parallel_min_bytes != SIZE_MAX;
  RunEnd end = RunEnd::Eof;
  if (two) {
    const uint64_t head = std::min<uint64_t>(64 << 10, src.size / 8);
    end = run_until(c, file, st, 0, dir, head);
  }
  uint64_t split = 0;
  if (end == RunEnd::Boundary && zone_origin_set_ && st.olen && !stopped_) {
    // The first line at or after the middle that starts with an owner name
    // (not a blank, comment, directive or closing parenthesis): any line
    // would do, this one makes a wrong guess less likely.
    const uint64_t mid = std::max<uint64_t>(src.size / 2, c.offset());
    constexpr size_t kWindow = 64 << 10;
    std::string w = src.read(mid > 0 ? mid - 1 : 0, kWindow);
    for (size_t i = 0; i + 1 < w.size(); ++i) {
      if (w[i] != '\n') continue;
      const char x = w[i + 1];
      if (x == ' ' || x == '\t' || x == '\r' || x == '\n' || x == ';' || x == '$' || x == ')' ||
          x == '(')
        continue;
      split = (mid > 0 ? mid - 1 : 0) + i + 1;
      break;
    }
    if (split <= c.offset()) split = 0;
  }
  if (split == 0) {
    if (end != RunEnd::Stopped) run_until(c, file, st, 0, dir, UINT64_MAX);
    if (in.read_error())
      error(file, c.line, std::string("read error: ") + std::strerror(in.read_error()));
    return;
  }

  const State guess = st;
  const bool guess_warned = warned_default_ttl_;
  ParseResult res2;
  res2.zone.files = z_.files;
  Parser p2(opts_, res2);
  p2.zone_origin_set_ = true;
  p2.warned_default_ttl_ = warned_default_ttl_;
  std::atomic<bool> cancel{false};
  p2.cancel_ = &cancel;
  State st2 = guess;
  st2.speculative = true;
  st2.owner_local = st2.ttl_local = st2.read_owner = st2.read_last_ttl = false;
  std::thread t([&] {
    try {
      p2.run_second_half(src, split, file, st2);
    } catch (...) {  // e.g. bad_alloc: the first thread parses the second half itself
      p2.gave_up_ = true;
    }
  });

  in.set_limit(split);
  end = run_until(c, file, st, 0, dir, split);
  bool merged = false;
  if (end == RunEnd::Boundary && c.offset() == split && !stopped_) {
    t.join();
    merged = merge_second_half(p2, guess, guess_warned, st, st2, c.line);
  } else {
    cancel.store(true, std::memory_order_relaxed);
    t.join();
  }
  if (!merged && !stopped_) {
    // One thread from here: the split was inside an entry, or the guess was wrong.
    in.lift_limit();
    run_until(c, file, st, 0, dir, UINT64_MAX);
    if (in.read_error())
      error(file, c.line, std::string("read error: ") + std::strerror(in.read_error()));
  }
}

void Parser::run_second_half(const Source& src, uint64_t split, uint8_t file, State& st) {
  reserve_for(size_t(src.size - split));
  Input in = src.open(split);
  Cursor c{in};
  RunEnd end = run_until(c, file, st, 0, "", UINT64_MAX);
  if (end == RunEnd::Eof && in.read_error())
    error(file, c.line, std::string("read error: ") + std::strerror(in.read_error()));
}

bool Parser::merge_second_half(Parser& p2, const State& guess, bool guess_warned, State& st,
                               const State& st2, uint32_t line_at_split) {
  if (p2.gave_up_ || p2.stopped_) return false;
  if (st.olen != guess.olen || std::memcmp(st.origin, guess.origin, st.olen) != 0) return false;
  if (st.default_ttl_known != guess.default_ttl_known ||
      (st.default_ttl_known && st.default_ttl != guess.default_ttl))
    return false;
  if (st2.read_owner && (st.owner_len != guess.owner_len || st.owner_bad != guess.owner_bad ||
                         std::memcmp(st.owner, guess.owner, st.owner_len) != 0))
    return false;
  if (st2.read_last_ttl && (st.last_ttl_known != guess.last_ttl_known ||
                            st.last_ttl != guess.last_ttl || warned_default_ttl_ != guess_warned))
    return false;
  // One thread would have stopped somewhere in the second half.
  if (errors_ + p2.errors_ > kMaxErrors) return false;
  if (z_.records.size() + p2.z_.records.size() > opts_.max_records) return false;
  const uint32_t delta = line_at_split - 1;  // the second half counted lines from 1
  for (auto& d : p2.res_.diagnostics) {
    if (d.line) d.line += delta;
    res_.diagnostics.push_back(std::move(d));
  }
  errors_ += p2.errors_;
  warned_default_ttl_ = warned_default_ttl_ || p2.warned_default_ttl_;
  z_.append(std::move(p2.z_), delta);
  res_.threads = 2;
  st = st2;
  st.speculative = st.owner_local = st.ttl_local = st.read_owner = st.read_last_ttl = false;
  return true;
}

bool Parser::run_file(const std::string& path, uint8_t file, State& st, int depth,
                      uint32_t from_line, uint8_t from_file) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error(from_file, from_line, "cannot open " + quote(path) + ": " + std::strerror(errno));
    return false;
  }
  struct stat sb;
  const bool regular = ::fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
  if (regular) reserve_for(size_t(sb.st_size));
  char real[PATH_MAX];
  std::string rp = ::realpath(path.c_str(), real) ? std::string(real) : path;
  for (const auto& p : include_stack)
    if (p == rp) {
      ::close(fd);
      error(from_file, from_line, "$INCLUDE loop: " + quote(path) + " is already being read");
      return false;
    }
  include_stack.push_back(rp);
  std::string d;
  size_t slash = path.rfind('/');
  if (slash != std::string::npos) d = path.substr(0, slash + 1);
  if (depth == 0 && regular) {
    Source src;
    src.fd = fd;
    src.size = uint64_t(sb.st_size);
    run_main(src, file, st, d);
  } else {
    Input in(fd, 0, regular);
    run(in, file, st, depth, d);
  }
  ::close(fd);
  include_stack.pop_back();
  return true;
}

void Parser::entry(uint8_t file, State& st, int depth, const std::string& dir) {
  const auto& t = entry_.toks;
  if (!entry_.blank_owner && !t[0].quoted && !t[0].text.empty() && t[0].text[0] == '$') {
    directive(file, st, depth, dir);
    return;
  }
  record(file, entry_.line, st, t, entry_.blank_owner);
}

void Parser::directive(uint8_t file, State& st, int depth, const std::string& dir) {
  const auto& t = entry_.toks;
  uint32_t line = entry_.line;
  std::string_view d = t[0].text;
  if (iequal(d, "$ORIGIN")) {
    if (t.size() != 2) return error(file, line, "$ORIGIN needs exactly one name");
    uint8_t buf[kMaxName];
    const char* err = nullptr;
    size_t n = name_from_text(t[1].text, st.olen ? st.origin : nullptr, st.olen, buf, &err);
    if (n == 0) return error(file, line, "$ORIGIN " + quote(t[1].text) + ": " + err);
    std::memcpy(st.origin, buf, n);
    st.olen = n;
    set_zone_origin(buf, n);
    return;
  }
  if (iequal(d, "$TTL")) {
    if (t.size() != 2) return error(file, line, "$TTL needs exactly one value");
    uint32_t v;
    if (!detail::parse_ttl(t[1].text, v))
      return error(file, line, "$TTL: bad TTL " + quote(t[1].text));
    st.default_ttl = v;
    st.default_ttl_known = true;
    return;
  }
  if (iequal(d, "$INCLUDE")) {
    if (st.speculative) {
      // File indices and include loops are the first half's business.
      gave_up_ = true;
      return;
    }
    if (t.size() < 2 || t.size() > 3)
      return error(file, line, "$INCLUDE needs a file name and an optional origin");
    if (depth + 1 > opts_.max_include_depth)
      return error(file, line,
                   "$INCLUDE nested deeper than " + std::to_string(opts_.max_include_depth));
    std::string path(t[1].text);
    if (!path.empty() && path[0] != '/') path = dir + path;
    State child = st;  // RFC 1035 §5.1: the include does not change the parent's origin
    if (t.size() == 3) {
      uint8_t buf[kMaxName];
      const char* err = nullptr;
      size_t n = name_from_text(t[2].text, st.olen ? st.origin : nullptr, st.olen, buf, &err);
      if (n == 0) return error(file, line, "$INCLUDE origin " + quote(t[2].text) + ": " + err);
      std::memcpy(child.origin, buf, n);
      child.olen = n;
    }
    if (z_.files.size() >= kMaxFiles) return error(file, line, "too many included files");
    // Copy what we still need: the include reuses the entry buffer.
    uint8_t idx = add_file(path);
    run_file(path, idx, child, depth + 1, line, file);
    return;
  }
  if (iequal(d, "$GENERATE")) {
    generate(file, st);
    return;
  }
  error(file, line, "unknown directive " + quote(d));
}

// BIND's nibble mode: hex digits, least significant first, dot separated;
// `width` counts output characters, dots included.
void append_nibbles(std::string& out, uint64_t v, unsigned width, bool upper) {
  const char* hex = upper ? "0123456789ABCDEF" : "0123456789abcdef";
  bool first = true;
  do {
    if (!first) {
      out += '.';
      if (width) --width;
    }
    out += hex[v & 15];
    v >>= 4;
    if (width) --width;
    first = false;
  } while (v != 0 || width > 0);
}

// Expands one $GENERATE template for iteration value `i`. `\X` is copied
// through (so `\$` reaches the name/RDATA parser as an escaped '$'); "$$" is
// a literal '$' as in BIND.
bool expand(std::string_view tmpl, int64_t i, std::string& out, std::string& err) {
  out.clear();
  for (size_t k = 0; k < tmpl.size(); ++k) {
    char c = tmpl[k];
    if (c == '\\' && k + 1 < tmpl.size()) {
      out += c;
      out += tmpl[++k];
      continue;
    }
    if (c != '$') {
      out += c;
      continue;
    }
    if (k + 1 < tmpl.size() && tmpl[k + 1] == '$') {
      out += "\\$";
      ++k;
      continue;
    }
    int64_t offset = 0;
    unsigned width = 0;
    char base = 'd';
    if (k + 1 < tmpl.size() && tmpl[k + 1] == '{') {
      size_t close = tmpl.find('}', k + 2);
      if (close == std::string_view::npos) {
        err = "unterminated ${...} in " + quote(tmpl);
        return false;
      }
      std::string_view spec = tmpl.substr(k + 2, close - k - 2);
      size_t c1 = spec.find(',');
      std::string_view off = spec.substr(0, c1);
      bool neg = !off.empty() && off[0] == '-';
      if (!off.empty() && (off[0] == '-' || off[0] == '+')) off.remove_prefix(1);
      uint64_t v;
      if (!detail::parse_uint(off, 0x7fffffff, v)) {
        err = "bad offset in ${" + std::string(spec) + "}";
        return false;
      }
      offset = neg ? -int64_t(v) : int64_t(v);
      if (c1 != std::string_view::npos) {
        std::string_view rest = spec.substr(c1 + 1);
        size_t c2 = rest.find(',');
        if (!detail::parse_uint(rest.substr(0, c2), 255, v)) {
          err = "bad width in ${" + std::string(spec) + "}";
          return false;
        }
        width = unsigned(v);
        if (c2 != std::string_view::npos) {
          std::string_view b = rest.substr(c2 + 1);
          if (b.size() != 1 || std::string_view("doxXnN").find(b[0]) == std::string_view::npos) {
            err = "bad base in ${" + std::string(spec) + "} (want d, o, x, X, n or N)";
            return false;
          }
          base = b[0];
        }
      }
      k = close;
    }
    int64_t val = i + offset;
    if (val < 0) {
      err = "$GENERATE value " + std::to_string(val) + " is negative";
      return false;
    }
    if (base == 'n' || base == 'N') {
      append_nibbles(out, uint64_t(val), width, base == 'N');
    } else {
      char fmt[8] = {'%', '0', '*', 'l', 'l', base == 'd' ? 'u' : base, 0};
      char buf[80];
      std::snprintf(buf, sizeof buf, fmt, int(width > 64 ? 64 : width), (unsigned long long)val);
      out += buf;
    }
  }
  return true;
}

void Parser::generate(uint8_t file, State& st) {
  const auto& t = entry_.toks;
  uint32_t line = entry_.line;
  if (t.size() < 5) return error(file, line, "$GENERATE needs: range lhs [ttl] [class] type rhs");
  // range: start-stop[/step]
  std::string_view r = t[1].text;
  size_t dash = r.find('-'), slash = r.find('/');
  uint64_t start, stop, step = 1;
  if (dash == std::string_view::npos || !detail::parse_uint(r.substr(0, dash), 0x7fffffff, start) ||
      !detail::parse_uint(
          r.substr(dash + 1,
                   slash == std::string_view::npos ? std::string_view::npos : slash - dash - 1),
          0x7fffffff, stop) ||
      (slash != std::string_view::npos &&
       (!detail::parse_uint(r.substr(slash + 1), 0x7fffffff, step) || step == 0)) ||
      stop < start)
    return error(file, line,
                 "$GENERATE: bad range " + quote(r) + " (want start-stop[/step], start <= stop)");
  std::string lhs(t[2].text);
  size_t i = 3;
  bool have_ttl = false, have_class = false;
  uint32_t ttl = 0;
  for (; i < t.size() && i < 5; ++i) {
    std::string_view x = t[i].text;
    if (!have_ttl && !x.empty() && x[0] >= '0' && x[0] <= '9') {
      if (!detail::parse_ttl(x, ttl)) return error(file, line, "$GENERATE: bad TTL " + quote(x));
      have_ttl = true;
      continue;
    }
    if (!have_class) {
      if (auto c = rrclass_from_text(x)) {
        if (*c != rrclass::IN)
          return error(
              file, line,
              "class " + rrclass_to_text(*c) + " not supported (only IN zones are served)");
        have_class = true;
        continue;
      }
    }
    break;
  }
  if (i >= t.size()) return error(file, line, "$GENERATE: missing type");
  auto type = rrtype_from_text(t[i].text);
  if (!type) return error(file, line, "$GENERATE: unknown type " + quote(t[i].text));
  if (is_meta_type(*type))
    return error(file, line, "meta-type " + rrtype_to_text(*type) + " is not allowed in a zone");
  ++i;
  if (i >= t.size()) return error(file, line, "$GENERATE: missing rhs");
  // The rhs is one field in BIND (quotes only group it: its expansion is
  // tokenized again, as BIND and dnspython do). We also accept several
  // fields; then quoted ones keep their quotes.
  std::string rhs;
  if (i + 1 == t.size()) rhs = t[i++].text;
  for (; i < t.size(); ++i) {
    if (!rhs.empty()) rhs += ' ';
    if (t[i].quoted) {
      rhs += '"';
      rhs += t[i].text;
      rhs += '"';
    } else rhs += t[i].text;
  }
  std::string lhs_x, rhs_x, err;
  Entry sub;
  for (uint64_t v = start; v <= stop; v += step) {
    if (stopped_) return;
    if (!expand(lhs, int64_t(v), lhs_x, err) || !expand(rhs, int64_t(v), rhs_x, err))
      return error(file, line, "$GENERATE: " + err);
    size_t pos = 0;
    uint32_t l = line;
    scan_entry(rhs_x.data(), rhs_x.size(), true, pos, l, sub);
    if (!sub.errors.empty())
      return error(file, line, std::string("$GENERATE: ") + sub.errors[0].msg);
    uint8_t owner[kMaxName];
    const char* e = nullptr;
    size_t n = name_from_text(lhs_x, st.olen ? st.origin : nullptr, st.olen, owner, &e);
    if (n == 0) return error(file, line, "$GENERATE owner " + quote(lhs_x) + ": " + e);
    name_to_lower(owner, n);
    std::memcpy(st.owner, owner, n);
    st.owner_len = n;
    st.owner_bad = false;
    st.owner_local = true;
    if (!add_record(file, line, st, owner, n, *type, have_ttl, ttl, sub.toks)) return;
  }
}

void Parser::record(uint8_t file, uint32_t line, State& st, std::span<const RdataToken> t,
                    bool blank_owner) {
  size_t i = 0;
  uint16_t type = 0;
  if (!blank_owner) {
    const char* err = nullptr;
    size_t n = 0;
    // With no origin yet, an absolute SOA owner becomes the origin (below);
    // parse it without one so that the name itself decides.
    n = name_from_text(t[0].text, st.olen ? st.origin : nullptr, st.olen, st.owner, &err);
    st.owner_local = true;
    if (n == 0) {
      st.owner_len = 0;
      st.owner_bad = true;
      return error(file, line, "owner " + quote(t[0].text) + ": " + err);
    }
    name_to_lower(st.owner, n);
    st.owner_len = n;
    st.owner_bad = false;
    i = 1;
  } else {
    if (st.speculative && !st.owner_local) st.read_owner = true;
    if (st.owner_bad) return;
    if (st.owner_len == 0)
      return error(file, line, "no owner name and no previous owner to inherit");
  }
  bool have_ttl = false, have_class = false;
  uint32_t ttl = 0;
  for (; i < t.size(); ++i) {
    std::string_view x = t[i].text;
    if (t[i].quoted) break;
    if (!have_ttl && !x.empty() && x[0] >= '0' && x[0] <= '9') {
      if (!detail::parse_ttl(x, ttl)) return error(file, line, "bad TTL " + quote(x));
      have_ttl = true;
      continue;
    }
    if (!have_class && x.size() == 2 && (x[0] | 0x20) == 'i' && (x[1] | 0x20) == 'n') {
      have_class = true;  // "IN", the usual case, without the table lookup
      continue;
    }
    if (!have_class && x.size() >= 2) {
      if (auto c = rrclass_from_text(x)) {
        if (*c != rrclass::IN)
          return error(
              file, line,
              "class " + rrclass_to_text(*c) + " not supported (only IN zones are served)");
        have_class = true;
        continue;
      }
    }
    break;
  }
  if (i >= t.size()) return error(file, line, "missing type");
  const std::string_view tt = t[i].text;
  auto ty = tt.size() == 1 && (tt[0] | 0x20) == 'a' && !t[i].quoted
                ? std::optional<uint16_t>(rrtype::A)
                : rrtype_from_text(tt);
  if (!ty) return error(file, line, "unknown type " + quote(t[i].text));
  type = *ty;
  if (is_meta_type(type))
    return error(file, line, "meta-type " + rrtype_to_text(type) + " is not allowed in a zone");
  if (type == rrtype::SOA && st.olen == 0 && !zone_origin_set_) {
    // No origin from options or $ORIGIN: the SOA's absolute owner is the apex.
    std::memcpy(st.origin, st.owner, st.owner_len);
    st.olen = st.owner_len;
    set_zone_origin(st.owner, st.owner_len);
  }
  add_record(file, line, st, st.owner, st.owner_len, type, have_ttl, ttl, t.subspan(i + 1));
}

bool Parser::add_record(uint8_t file, uint32_t line, State& st, const uint8_t* owner,
                        size_t owner_len, uint16_t type, bool have_ttl, uint32_t ttl,
                        std::span<const RdataToken> rd) {
  rdata_.clear();
  std::string err = rdata_from_text(type, rd, st.olen ? st.origin : nullptr, st.olen, rdata_);
  if (!err.empty()) {
    error(file, line, err);
    return true;  // keep going: report further errors
  }
  // TTL when omitted, as BIND does it: the last $TTL; else the TTL of the
  // previous record (RFC 1035 §5.1); else, for an SOA, its MINIMUM field
  // (which then becomes the default, pre-RFC 2308 practice). BIND rejects any
  // other record without a TTL; we use ParseOptions::default_ttl with a
  // warning instead, so that a fragment still loads for tests.
  if (!have_ttl) {
    if (!st.default_ttl_known && st.speculative && !st.ttl_local) st.read_last_ttl = true;
    if (st.default_ttl_known) {
      ttl = st.default_ttl;
    } else if (st.last_ttl_known) {
      ttl = st.last_ttl;
    } else if (type == rrtype::SOA && rdata_.size() >= 20) {
      ttl = rd32(rdata_.data() + rdata_.size() - 4);
      st.default_ttl = ttl;
      st.default_ttl_known = true;
      warning(file, line, "no TTL specified; using the SOA MINIMUM " + std::to_string(ttl));
    } else {
      ttl = opts_.default_ttl;
      if (!warned_default_ttl_) {
        warning(file, line, "no TTL specified and no $TTL; using " + std::to_string(ttl));
        warned_default_ttl_ = true;
      }
    }
  }
  st.last_ttl = ttl;
  st.last_ttl_known = true;
  st.ttl_local = true;
  if (z_.records.size() >= opts_.max_records) {
    if (!warned_max_records_) {
      error(file, line, "more than " + std::to_string(opts_.max_records) + " records");
      warned_max_records_ = true;
    }
    stopped_ = true;
    return false;
  }
  z_.add(owner, owner_len, type, rrclass::IN, ttl, rdata_.data(), rdata_.size(), file, line);
  return true;
}

}  // namespace

ParseResult parse_zone_file(const std::string& path, const ParseOptions& opts) {
  ParseResult res;
  Parser p(opts, res);
  uint8_t idx = p.add_file(path);
  State st;
  p.set_origin_from_options(st);
  if (!p.stopped() && !res.has_errors()) {
    if (p.run_file(path, idx, st, 0, 0, idx)) p.finish();
  }
  return res;
}

ParseResult parse_zone_text(std::string_view text, const std::string& name,
                            const ParseOptions& opts) {
  ParseResult res;
  Parser p(opts, res);
  uint8_t idx = p.add_file(name);
  State st;
  p.set_origin_from_options(st);
  if (!res.has_errors()) {
    p.reserve_for(text.size());
    Source src;
    src.text = text;
    src.size = text.size();
    p.run_main(src, idx, st, "");
    p.finish();
  }
  return res;
}

}  // namespace edgedns::zones
