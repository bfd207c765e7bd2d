// ByteSource: a data file's bytes, read through zlib when gzip-compressed, with the byte count
// of a plain file known up front so that size fields can be checked before any allocation.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "io/data_readers.h"
#include "qrepair/error.h"

namespace qrepair {
namespace data {

ByteSource::ByteSource(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw BadInput(path, "", std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw BadInput(path, "", "cannot open: is a directory");
  }
  file_size_ = static_cast<uint64_t>(st.st_size);
  unsigned char magic[2] = {0, 0};
  bool gzip = ::pread(fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
  if (gzip) {
    gzFile gz = gzdopen(fd, "rb");
    if (gz == nullptr) {
      ::close(fd);
      throw BadInput(path, "", "cannot open: out of memory for the gzip reader");
    }
    gzbuffer(gz, 1 << 18);
    gz_ = gz;
  } else {
    file_ = ::fdopen(fd, "rb");
    if (file_ == nullptr) {
      ::close(fd);
      throw BadInput(path, "", std::string("cannot open: ") + std::strerror(errno));
    }
  }
}

ByteSource::~ByteSource() {
  if (gz_ != nullptr) gzclose(static_cast<gzFile>(gz_));
  if (file_ != nullptr) std::fclose(file_);
}

int64_t ByteSource::KnownRemaining() const {
  if (gzipped()) return -1;
  return position_ >= file_size_ ? 0 : static_cast<int64_t>(file_size_ - position_);
}

size_t ByteSource::Read(void* dst, size_t n) {
  auto* out = static_cast<unsigned char*>(dst);
  size_t got = 0;
  if (file_ != nullptr) {
    got = std::fread(out, 1, n, file_);
    if (got < n && std::ferror(file_)) {
      throw BadInput(path_, "byte " + std::to_string(position_ + got),
                     std::string("read error: ") + std::strerror(errno));
    }
  } else {
    auto gz = static_cast<gzFile>(gz_);
    while (got < n) {
      unsigned step = static_cast<unsigned>(std::min<size_t>(n - got, 1u << 30));
      int r = gzread(gz, out + got, step);
      if (r > 0) got += static_cast<size_t>(r);
      if (r == static_cast<int>(step)) continue;
      int code = Z_OK;
      std::string message = gzerror(gz, &code);
      if (code != Z_OK) {
        // zlib prefixes its message with the name it was opened under ("<fd:3>: ").
        if (message.compare(0, 4, "<fd:") == 0 && message.find(": ") != std::string::npos) {
          message.erase(0, message.find(": ") + 2);
        }
        std::string what = code == Z_BUF_ERROR ? "truncated gzip stream (" : "corrupt gzip data (";
        throw BadInput(path_, "compressed byte " + std::to_string(gzoffset(gz)),
                       what + message + ")");
      }
      break;  // clean end of the data
    }
  }
  position_ += got;
  return got;
}

void ByteSource::ReadExact(void* dst, size_t n, const std::string& what) {
  uint64_t start = position_;
  size_t got = Read(dst, n);
  if (got < n) {
    throw BadInput(path_, "byte " + std::to_string(start),
                   "truncated: expected " + what + ", file ends after " +
                       std::to_string(start + got) + " bytes");
  }
}

uint64_t ByteSource::Skip(uint64_t n) {
  if (file_ != nullptr) {
    uint64_t step = std::min<uint64_t>(n, static_cast<uint64_t>(KnownRemaining()));
    if (step > 0 && ::fseeko(file_, static_cast<off_t>(step), SEEK_CUR) != 0) {
      throw BadInput(path_, "byte " + std::to_string(position_),
                     std::string("seek failed: ") + std::strerror(errno));
    }
    position_ += step;
    return step;
  }
  std::vector<unsigned char> scratch(static_cast<size_t>(std::min<uint64_t>(n, 1 << 18)));
  uint64_t done = 0;
  while (done < n) {
    size_t want = static_cast<size_t>(std::min<uint64_t>(n - done, scratch.size()));
    size_t got = Read(scratch.data(), want);
    done += got;
    if (got < want) break;
  }
  return done;
}

void ByteSource::ExpectEnd(const std::string& what) {
  uint64_t end = position_;
  const uint64_t kCountLimit = uint64_t{1} << 26;  // a gzip bomb is not inflated to the end
  uint64_t extra = file_ != nullptr ? static_cast<uint64_t>(KnownRemaining()) : Skip(kCountLimit);
  if (extra > 0) {
    throw BadInput(path_, "byte " + std::to_string(end),
                   "trailing data: " + what + ", but " +
                       (extra == kCountLimit && gzipped() ? "at least " : "") +
                       std::to_string(extra) + " more byte" +
                       (extra == 1 ? " follows" : "s follow"));
  }
}

std::string ByteSource::ReadAll(uint64_t limit) {
  std::string text;
  // One spare byte, so a plain file is read in one go and the end is seen without growing.
  const int64_t known = KnownRemaining();
  text.resize(known >= 0 && static_cast<uint64_t>(known) <= limit ? static_cast<size_t>(known) + 1
                                                                  : size_t{1} << 20);
  size_t used = 0;
  for (;;) {
    if (used == text.size()) {
      if (used > limit) {
        throw BadInput(path_, "", "file is larger than " + std::to_string(limit) + " bytes");
      }
      text.resize(text.size() * 2);
    }
    size_t got = Read(&text[used], text.size() - used);
    used += got;
    if (got == 0) break;
  }
  text.resize(used);
  return text;
}

}  // namespace data
}  // namespace qrepair
