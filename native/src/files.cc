// File helpers for the exports' writers (src/main/export/staged-file.ts).
//
// preallocate(fd, bytes): reserves the blocks of a file about to be written
// sequentially to `bytes`, so a full disk is known before anything is
// written and the page cache's writes skip the filesystem's delayed
// allocation (on ext4, about a quarter less kernel time per byte). Linux:
// fallocate, which also sets the size; macOS: F_PREALLOCATE, which does not.
// Returns whether blocks were reserved (false where the filesystem or the
// platform cannot); throws an Error with the system's message (and `code`,
// e.g. ENOSPC) when the disk cannot hold them.
#include "files.h"

#include <cerrno>
#include <cstring>
#include <string>

#if defined(__linux__)
#include <fcntl.h>
#elif defined(__APPLE__)
#include <fcntl.h>
#include <sys/fcntl.h>
#endif

namespace lora {

const char* errno_name(int e) {
  switch (e) {
    case ENOSPC: return "ENOSPC";
#ifdef EDQUOT
    case EDQUOT: return "EDQUOT";
#endif
    case EFBIG: return "EFBIG";
    case EBADF: return "EBADF";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case EROFS: return "EROFS";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    default: return "EIO";
  }
}

Napi::Error system_error(Napi::Env env, int e, const std::string& what, const char* code) {
  Napi::Error err = Napi::Error::New(env, what + ": " + std::strerror(e));
  err.Set("code", Napi::String::New(env, code ? code : errno_name(e)));
  return err;
}

namespace {

// The filesystem or the file cannot reserve blocks (a device, a pipe): nothing to do.
bool unsupported(int e) { return e == EOPNOTSUPP || e == ENOSYS || e == EINVAL || e == ENODEV || e == ESPIPE; }

Napi::Value Preallocate(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber() || !info[1].IsNumber()) throw Napi::TypeError::New(env, "preallocate(fd, bytes): two numbers");
  const double fd_d = info[0].As<Napi::Number>().DoubleValue(), bytes_d = info[1].As<Napi::Number>().DoubleValue();
  if (fd_d < 0 || fd_d != static_cast<double>(static_cast<int>(fd_d)) || bytes_d < 0 || bytes_d > 9.0e15 ||
      bytes_d != static_cast<double>(static_cast<int64_t>(bytes_d)))
    throw Napi::RangeError::New(env, "preallocate(fd, bytes): a file descriptor and a byte count");
  const int fd = static_cast<int>(fd_d);
  const int64_t bytes = static_cast<int64_t>(bytes_d);
  if (bytes == 0) return Napi::Boolean::New(env, false);
  int err = 0;
#if defined(__linux__)
  int rc;
  do rc = fallocate(fd, 0, 0, static_cast<off_t>(bytes));
  while (rc != 0 && errno == EINTR);
  if (rc != 0) err = errno;
#elif defined(__APPLE__)
  fstore_t store = {F_ALLOCATECONTIG | F_ALLOCATEALL, F_PEOFPOSMODE, 0, static_cast<off_t>(bytes), 0};
  if (fcntl(fd, F_PREALLOCATE, &store) == -1) {
    store.fst_flags = F_ALLOCATEALL;
    if (fcntl(fd, F_PREALLOCATE, &store) == -1) err = errno;
  }
#else
  err = ENOSYS;
#endif
  if (err == 0) return Napi::Boolean::New(env, true);
  if (unsupported(err)) return Napi::Boolean::New(env, false);
  throw system_error(env, err, std::string(errno_name(err)) + ": preallocate");
}

}  // namespace

void register_files(Napi::Env env, Napi::Object exports) {
  exports.Set("preallocate", Napi::Function::New(env, Preallocate));
}

}  // namespace lora
