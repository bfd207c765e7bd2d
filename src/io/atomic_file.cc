// Atomic output files and file hashing. SHA-256 follows FIPS 180-4 (section 6.2).
#include "qrepair/io/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <vector>

#include "qrepair/error.h"

namespace qrepair {

namespace {

// Writes all of `content` to `fd`; false with errno set on failure.
bool WriteAll(int fd, const std::string& content) {
  size_t written = 0;
  while (written < content.size()) {
    ssize_t n = ::write(fd, content.data() + written, content.size() - written);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    written += static_cast<size_t>(n);
  }
  return true;
}

[[noreturn]] void Fail(const std::string& path, const std::string& what, int err) {
  throw Error(ExitCode::kIoError, path + ": " + what + ": " + std::strerror(err));
}

}  // namespace

// The content goes first into an unnamed file (O_TMPFILE, Linux >= 3.11 on ext4, xfs, tmpfs,
// btrfs...), which a kill -9 leaves nowhere; it gets a temporary name only once it is complete
// and flushed, for the instant before the rename. Folders whose file system lacks O_TMPFILE fall
// back to a named temporary file from the start.
void WriteFileAtomic(const std::string& path, const std::string& content) {
  std::string dir = ".";
  auto slash = path.find_last_of('/');
  if (slash != std::string::npos) dir = slash == 0 ? "/" : path.substr(0, slash);
  std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  std::string tmpl = dir + "/." + base + ".tmp.XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  std::string tmp;
  int fd = -1;
#ifdef O_TMPFILE
  fd = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
#endif
  const bool unnamed = fd >= 0;
  if (!unnamed) {
    fd = mkstemp(name.data());
    if (fd < 0) Fail(path, "cannot create a temporary file in '" + dir + "'", errno);
    tmp = name.data();
  }
  auto give_up = [&](const std::string& what) {
    int err = errno;
    ::close(fd);
    if (!tmp.empty()) ::unlink(tmp.c_str());
    Fail(path, what, err);
  };
  if (!WriteAll(fd, content)) give_up("write failed");
  if (::fchmod(fd, 0644) != 0 || ::fsync(fd) != 0) give_up("cannot flush");
  if (unnamed) {
    // Give the complete file a unique temporary name (linkat cannot replace an existing file).
    const std::string proc = "/proc/self/fd/" + std::to_string(fd);
    for (int attempt = 0;; ++attempt) {
      int probe = mkstemp(name.data());  // reserve a unique name, then link over its removal
      if (probe < 0) give_up("cannot name a temporary file in '" + dir + "'");
      ::close(probe);
      ::unlink(name.data());
      if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, name.data(), AT_SYMLINK_FOLLOW) == 0) break;
      std::copy(tmpl.begin(), tmpl.end(), name.begin());
      if (errno == EEXIST && attempt < 8) continue;
      // No /proc, or the file system refuses the link: write a named temporary file instead.
      ::close(fd);
      fd = mkstemp(name.data());
      if (fd < 0) Fail(path, "cannot create a temporary file in '" + dir + "'", errno);
      tmp = name.data();
      if (!WriteAll(fd, content)) give_up("write failed");
      if (::fchmod(fd, 0644) != 0 || ::fsync(fd) != 0) give_up("cannot flush");
      break;
    }
    if (tmp.empty()) tmp = name.data();
  }
  if (::close(fd) != 0) {
    fd = -1;
    int err = errno;
    ::unlink(tmp.c_str());
    Fail(path, "cannot flush", err);
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    Fail(path, "cannot rename into place", err);
  }
  // Make the rename itself durable.
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

void RefuseOverwritingInputs(const std::string& output, const std::vector<std::string>& inputs,
                             bool force) {
  if (force || output.empty()) return;
  struct stat out_st {};
  if (::stat(output.c_str(), &out_st) != 0) return;  // does not exist yet
  for (const std::string& in : inputs) {
    struct stat in_st {};
    if (!in.empty() && ::stat(in.c_str(), &in_st) == 0 && in_st.st_dev == out_st.st_dev &&
        in_st.st_ino == out_st.st_ino) {
      throw Error(ExitCode::kUsage, output + ": refusing to overwrite the input file '" + in +
                                        "' (use --force to allow)");
    }
  }
}

namespace {

constexpr std::array<uint32_t, 64> kK = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

inline uint32_t Rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

void Compress(std::array<uint32_t, 8>& h, const unsigned char* block) {
  uint32_t w[64];
  for (size_t t = 0; t < 16; ++t) {
    w[t] = (uint32_t{block[4 * t]} << 24) | (uint32_t{block[4 * t + 1]} << 16) |
           (uint32_t{block[4 * t + 2]} << 8) | uint32_t{block[4 * t + 3]};
  }
  for (int t = 16; t < 64; ++t) {
    uint32_t s0 = Rotr(w[t - 15], 7) ^ Rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
    uint32_t s1 = Rotr(w[t - 2], 17) ^ Rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
  for (int t = 0; t < 64; ++t) {
    uint32_t t1 =
        hh + (Rotr(e, 6) ^ Rotr(e, 11) ^ Rotr(e, 25)) + ((e & f) ^ (~e & g)) + kK[t] + w[t];
    uint32_t t2 = (Rotr(a, 2) ^ Rotr(a, 13) ^ Rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    hh = g;
    g = f;
    f = e;
    e = d + t1;
    d = c;
    c = b;
    b = a;
    a = t1 + t2;
  }
  h[0] += a;
  h[1] += b;
  h[2] += c;
  h[3] += d;
  h[4] += e;
  h[5] += f;
  h[6] += g;
  h[7] += hh;
}

}  // namespace

std::string Sha256(const std::string& bytes) {
  std::array<uint32_t, 8> h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                               0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  size_t full = bytes.size() / 64;
  for (size_t i = 0; i < full; ++i)
    Compress(h, reinterpret_cast<const unsigned char*>(bytes.data()) + 64 * i);
  unsigned char tail[128] = {0};
  size_t rest = bytes.size() - 64 * full;
  std::memcpy(tail, bytes.data() + 64 * full, rest);
  tail[rest] = 0x80;
  size_t tail_len = rest + 1 + 8 <= 64 ? 64 : 128;
  uint64_t bits = static_cast<uint64_t>(bytes.size()) * 8;
  for (int i = 0; i < 8; ++i) tail[tail_len - 1 - i] = static_cast<unsigned char>(bits >> (8 * i));
  for (size_t off = 0; off < tail_len; off += 64) Compress(h, tail + off);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (uint32_t v : h) {
    for (int i = 7; i >= 0; --i) out.push_back(kHex[(v >> (4 * i)) & 0xf]);
  }
  return out;
}

std::string Sha256File(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw BadInput(path, "", "cannot open");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return Sha256(bytes);
}

}  // namespace qrepair
