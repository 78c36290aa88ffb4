#include "proto/tls.hh"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <stdexcept>

namespace edgedns::proto {

namespace {

using Clock = std::chrono::steady_clock;

// The reasons OpenSSL queued, oldest first, cleared.
std::string openssl_reasons() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    const char* r = ERR_reason_error_string(e);
    if (!out.empty()) out += "; ";
    out += r ? r : "error " + std::to_string(e);
  }
  return out.empty() ? "unknown TLS error" : out;
}

// Milliseconds left before `deadline` (-1: no deadline), at least 0.
int left_ms(const std::optional<Clock::time_point>& deadline) {
  if (!deadline) return -1;
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count();
  return d < 0 ? 0 : int(d);
}

bool set_nonblocking(int fd) {
  int fl = ::fcntl(fd, F_GETFL);
  return fl >= 0 && ::fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0;
}

// Runs one OpenSSL handshake step until it completes, fails or the deadline
// passes. 1 done, 0 failed (OpenSSL's queue holds why), -1 timed out.
template <class Step>
int drive(SSL* ssl, int fd, const std::optional<Clock::time_point>& deadline, Step step) {
  for (;;) {
    int r = step(ssl);
    if (r == 1) return 1;
    int e = SSL_get_error(ssl, r);
    short ev = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (!ev) return 0;
    if (!wait_fd(fd, ev, left_ms(deadline))) return -1;
  }
}

std::vector<std::string> cert_names(X509* cert) {
  std::vector<std::string> names;
  if (!cert) return names;
  if (auto* sans = static_cast<GENERAL_NAMES*>(
          X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
      if (g->type != GEN_DNS) continue;
      const auto* s = g->d.dNSName;
      names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                         size_t(ASN1_STRING_length(s)));
    }
    GENERAL_NAMES_free(sans);
  }
  X509_NAME* subj = X509_get_subject_name(cert);
  int idx = subj ? X509_NAME_get_index_by_NID(subj, NID_commonName, -1) : -1;
  if (idx >= 0) {
    ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subj, idx));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, s);
    if (len >= 0) {
      std::string cn(reinterpret_cast<char*>(utf8), size_t(len));
      bool dup = false;
      for (const auto& n : names) dup |= n == cn;
      if (!dup) names.push_back(std::move(cn));
    }
    OPENSSL_free(utf8);
  }
  return names;
}

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out.empty() ? "(none)" : out;
}

// The names of the certificate that failed verification on this thread's
// current handshake (OpenSSL keeps no peer certificate after a failure).
thread_local std::string t_failed_names;

int verify_cb(int ok, X509_STORE_CTX* store) {
  if (!ok && t_failed_names.empty()) {
    // The leaf is what the operator knows the peer by, whichever link failed.
    X509* leaf = X509_STORE_CTX_get0_cert(store);
    t_failed_names = join(cert_names(leaf ? leaf : X509_STORE_CTX_get_current_cert(store)));
  }
  return ok;
}

// Why a peer's certificate did not verify, in words an operator can act on.
std::string verify_reason(SSL* ssl, const char* whose) {
  long v = SSL_get_verify_result(ssl);
  if (v == X509_V_OK) return "";
  std::string r = std::string(whose) + " certificate";
  if (!t_failed_names.empty()) r += " (" + t_failed_names + ")";
  r += ": ";
  r += X509_verify_cert_error_string(v);
  if (v == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
      v == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE ||
      v == X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN || v == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT)
    r += " (not signed by the configured CA)";
  return r;
}

}  // namespace

// ---- context

TlsContext::TlsContext(Role role, const TlsFiles& f, bool refuse_expired) : role_(role) {
  // A peer that vanishes mid-write must be an error return, not a SIGPIPE
  // that kills the process (OpenSSL writes with write(2)).
  struct sigaction sa {};
  if (::sigaction(SIGPIPE, nullptr, &sa) == 0 && sa.sa_handler == SIG_DFL)
    ::signal(SIGPIPE, SIG_IGN);

  for (const auto* p : {&f.cert, &f.key, &f.ca})
    if (p->empty()) throw std::runtime_error("TLS: certificate, key and CA files are all required");
  for (const auto* p : {&f.cert, &f.key, &f.ca})
    if (::access(p->c_str(), R_OK) != 0)
      throw std::runtime_error("TLS file " + *p + ": " + std::strerror(errno));

  ERR_clear_error();
  ctx_ = SSL_CTX_new(role == Role::Server ? TLS_server_method() : TLS_client_method());
  if (!ctx_) throw std::runtime_error("TLS: " + openssl_reasons());
  auto fail = [&](const std::string& what) {
    std::string msg = what;
    if (ERR_peek_error()) msg += ": " + openssl_reasons();
    SSL_CTX_free(ctx_);
    ctx_ = nullptr;
    throw std::runtime_error(msg);
  };
  SSL_CTX_set_min_proto_version(ctx_, TLS1_3_VERSION);
  // Framing carries lengths, so a missing close_notify cannot truncate a
  // message unnoticed; the peer closing without one is an ordinary end.
  SSL_CTX_set_options(ctx_, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx_, f.cert.c_str()) != 1)
    fail("TLS certificate " + f.cert);
  if (SSL_CTX_use_PrivateKey_file(ctx_, f.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      fail("TLS key " + f.key + " does not belong to certificate " + f.cert);  // no OpenSSL words
    }
    fail("TLS key " + f.key);
  }
  if (SSL_CTX_check_private_key(ctx_) != 1)
    fail("TLS key " + f.key + " does not belong to certificate " + f.cert);
  if (SSL_CTX_load_verify_locations(ctx_, f.ca.c_str(), nullptr) != 1) fail("TLS CA " + f.ca);
  if (X509* own = SSL_CTX_get0_certificate(ctx_); own && refuse_expired) {
    // Starting with a certificate every peer will refuse is a mistake to
    // name now, not a stream of handshake failures later.
    if (X509_cmp_current_time(X509_get0_notAfter(own)) < 0) {
      SSL_CTX_free(ctx_);
      ctx_ = nullptr;
      throw std::runtime_error("TLS certificate " + f.cert + " has expired");
    }
  }
  // Both sides authenticate: a server without a client certificate, or a
  // client talking to an unverified server, is refused in the handshake.
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
  if (role == Role::Server) {
    // No resumption: every connection shows a certificate, checked now.
    SSL_CTX_set_num_tickets(ctx_, 0);
    SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
    STACK_OF(X509_NAME)* cas = SSL_load_client_CA_file(f.ca.c_str());
    if (cas) SSL_CTX_set_client_CA_list(ctx_, cas);
  }
  ERR_clear_error();
}

TlsContext::~TlsContext() {
  if (ctx_) SSL_CTX_free(ctx_);
}

// ---- stream

TlsStream::TlsStream(int fd, SSL* ssl, std::string addr, std::vector<std::string> names,
                     bool owns_fd)
    : fd_(fd),
      owns_fd_(owns_fd),
      ssl_(ssl),
      peer_address_(std::move(addr)),
      peer_names_(std::move(names)) {}

TlsStream::~TlsStream() {
  if (!broken_) {
    std::lock_guard lock(mu_);
    SSL_shutdown(ssl_);  // one non-blocking try at a close_notify; the peer may be gone
  }
  SSL_free(ssl_);
  if (owns_fd_) ::close(fd_);
}

ssize_t TlsStream::read_some(void* buf, size_t n, int timeout_ms) {
  for (;;) {
    int e;
    {
      std::lock_guard lock(mu_);
      size_t got = 0;
      ERR_clear_error();
      int r = SSL_read_ex(ssl_, buf, n, &got);
      if (r == 1) return ssize_t(got);
      e = SSL_get_error(ssl_, r);
      if (e == SSL_ERROR_ZERO_RETURN) return 0;
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        fail_io(e, ECONNRESET);
        return -1;
      }
    }
    if (!wait_fd(fd_, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, timeout_ms)) return -1;
  }
}

bool TlsStream::write_all(const void* buf, size_t n, int timeout_ms) {
  const auto* p = static_cast<const char*>(buf);
  while (n) {
    int e;
    {
      std::lock_guard lock(mu_);
      size_t put = 0;
      ERR_clear_error();
      int r = SSL_write_ex(ssl_, p, n, &put);
      if (r == 1) {
        p += put;
        n -= put;
        continue;
      }
      e = SSL_get_error(ssl_, r);
      if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        fail_io(e, EPIPE);
        return false;
      }
    }
    if (!wait_fd(fd_, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, timeout_ms)) return false;
  }
  return true;
}

void TlsStream::fail_io(int ssl_error, int errno_if_none) {
  const int saved = errno;
  broken_ = true;
  last_error_ = ssl_error == SSL_ERROR_SYSCALL && ERR_peek_error() == 0
                    ? std::string(std::strerror(saved ? saved : errno_if_none))
                    : openssl_reasons();
  errno = EPROTO;
}

void TlsStream::shutdown() { ::shutdown(fd_, SHUT_RDWR); }

bool TlsStream::peer_gone() {
  // Our clients never half-close a TLS connection (TLS has no use for it):
  // the peer's FIN, seen as POLLRDHUP, means it has left.
  pollfd p{fd_, POLLRDHUP, 0};
  int r;
  do {
    r = ::poll(&p, 1, 0);
  } while (r < 0 && errno == EINTR);
  return r > 0 && (p.revents & (POLLHUP | POLLERR | POLLNVAL | POLLRDHUP));
}

std::string TlsStream::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

const std::string* find_allowed(const std::vector<std::string>& names,
                                const std::vector<std::string>& list) {
  for (const auto& n : names)
    for (const auto& a : list)
      if (n.size() == a.size() && ::strncasecmp(n.data(), a.data(), n.size()) == 0) return &n;
  return nullptr;
}

// ---- endpoints

std::string Endpoint::str() const {
  return (host.find(':') != std::string::npos ? "[" + host + "]" : host) + ":" +
         std::to_string(port);
}

bool parse_endpoint(const std::string& s, Endpoint* out, std::string* err, bool port_zero) {
  auto bad = [&](const std::string& why) {
    if (err) *err = "'" + s + "': " + why;
    return false;
  };
  std::string host, port;
  if (!s.empty() && s[0] == '[') {
    auto close = s.find(']');
    if (close == std::string::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return bad("expected [IPv6]:PORT");
    host = s.substr(1, close - 1);
    port = s.substr(close + 2);
  } else {
    auto colon = s.rfind(':');
    if (colon == std::string::npos) return bad("expected HOST:PORT");
    host = s.substr(0, colon);
    port = s.substr(colon + 1);
    if (host.find(':') != std::string::npos) return bad("an IPv6 address goes in brackets");
  }
  if (host.empty()) return bad("no host");
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return bad("port must be a number");
  unsigned long p = std::stoul(port);
  if ((p == 0 && !port_zero) || p > 65535) return bad("port must be 1 to 65535");
  out->host = host;
  out->port = uint16_t(p);
  return true;
}

std::string socket_peer_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "?";
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (ss.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    ::inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    ::inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
  }
  return Endpoint{host, port}.str();
}

// ---- handshakes

std::unique_ptr<TlsStream> tls_accept(const TlsContext& ctx, int fd, const std::string& peer,
                                      const std::vector<std::string>& allow, int timeout_ms,
                                      std::string* reason) {
  auto refuse = [&](std::string why) -> std::unique_ptr<TlsStream> {
    if (reason) *reason = std::move(why);
    return nullptr;
  };
  if (!set_nonblocking(fd)) return refuse(std::string("fcntl: ") + std::strerror(errno));
  std::optional<Clock::time_point> deadline;
  if (timeout_ms >= 0) deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);

  // A TLS connection opens with a handshake record (content type 22). Anything
  // else is someone speaking the plain protocol (or HTTP) to the TLS port:
  // say so rather than relay OpenSSL's "wrong version number".
  unsigned char first = 0;
  for (;;) {
    ssize_t r = ::recv(fd, &first, 1, MSG_PEEK);
    if (r == 1) break;
    if (r == 0) return refuse("closed the connection before a TLS handshake");
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return refuse(std::string("recv: ") + std::strerror(errno));
    if (!wait_fd(fd, POLLIN, left_ms(deadline))) return refuse("no TLS handshake in time");
  }
  if (first != 22) return refuse("plaintext, not a TLS handshake");

  ERR_clear_error();
  SSL* ssl = SSL_new(ctx.native());
  if (!ssl) return refuse(openssl_reasons());
  SSL_set_fd(ssl, fd);
  t_failed_names.clear();
  int r = drive(ssl, fd, deadline, [](SSL* s) { return SSL_accept(s); });
  if (r != 1) {
    std::string why = r < 0 ? "TLS handshake not finished in time" : verify_reason(ssl, "client");
    if (why.empty()) {
      unsigned long e = ERR_peek_error();
      why = ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE
                ? "no client certificate"
                : "TLS handshake failed: " + openssl_reasons();
    }
    ERR_clear_error();
    SSL_free(ssl);
    return refuse(why);
  }
  X509* cert = SSL_get0_peer_certificate(ssl);
  std::vector<std::string> names = cert_names(cert);
  if (!allow.empty()) {
    if (!find_allowed(names, allow)) {
      SSL_free(ssl);
      return refuse("client certificate names " + join(names) + ", none of them allowed (" +
                    join(allow) + ")");
    }
  }
  return std::make_unique<TlsStream>(fd, ssl, peer, std::move(names), /*owns_fd=*/false);
}

std::unique_ptr<TlsStream> tls_connect(const TlsContext& ctx, const Endpoint& to,
                                       const std::string& server_name, int timeout_ms,
                                       std::string* err) {
  const std::string where = "tls://" + to.str();
  auto fail = [&](const std::string& why) -> std::unique_ptr<TlsStream> {
    if (err) *err = where + ": " + why;
    return nullptr;
  };
  std::optional<Clock::time_point> deadline;
  if (timeout_ms >= 0) deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);

  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(to.port);
  if (int g = ::getaddrinfo(to.host.c_str(), port.c_str(), &hints, &res); g != 0)
    return fail(std::string("cannot resolve host: ") + ::gai_strerror(g));
  int fd = -1;
  std::string last = "no address";
  for (addrinfo* a = res; a; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) {
      last = std::strerror(errno);
      continue;
    }
    int rc = ::connect(fd, a->ai_addr, a->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      if (wait_fd(fd, POLLOUT, left_ms(deadline))) {
        int soerr = 0;
        socklen_t len = sizeof soerr;
        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
        rc = soerr ? -1 : 0;
        errno = soerr;
      } else {
        errno = ETIMEDOUT;
      }
    }
    if (rc == 0) break;
    last = errno == ETIMEDOUT ? "connect timed out" : std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  if (fd < 0) return fail("cannot connect: " + last);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  ERR_clear_error();
  SSL* ssl = SSL_new(ctx.native());
  if (!ssl) {
    ::close(fd);
    return fail(openssl_reasons());
  }
  SSL_set_fd(ssl, fd);
  SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  SSL_set1_host(ssl, server_name.c_str());
  in6_addr tmp;
  if (::inet_pton(AF_INET, server_name.c_str(), &tmp) != 1 &&
      ::inet_pton(AF_INET6, server_name.c_str(), &tmp) != 1)
    SSL_set_tlsext_host_name(ssl, server_name.c_str());
  t_failed_names.clear();
  int r = drive(ssl, fd, deadline, [](SSL* s) { return SSL_connect(s); });
  if (r != 1) {
    std::string why = r < 0 ? "TLS handshake not finished in time" : verify_reason(ssl, "server");
    if (why == "") why = "TLS handshake failed: " + openssl_reasons();
    else if (SSL_get_verify_result(ssl) == X509_V_ERR_HOSTNAME_MISMATCH)
      why += " (expected '" + server_name + "')";
    SSL_free(ssl);
    ::close(fd);
    return fail(why);
  }
  auto names = cert_names(SSL_get0_peer_certificate(ssl));
  return std::make_unique<TlsStream>(fd, ssl, to.str(), std::move(names), /*owns_fd=*/true);
}

}  // namespace edgedns::proto
