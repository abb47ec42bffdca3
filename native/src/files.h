// File work for the exports' writers: preallocate (files.cc) and the merged
// export's streaming shard writer, mergeFile (merge_file.cc).
#pragma once

#include <napi.h>

namespace lora {

// "ENOSPC", "EACCES", …: the name Node gives an errno (EIO for the rest).
const char* errno_name(int e);

// An Error whose message is `what: <the system's message>`, with `code` set
// to errno_name(e) (or to `code` when given) as Node's fs errors have it.
Napi::Error system_error(Napi::Env env, int e, const std::string& what, const char* code = nullptr);

// Adds preallocate(fd, bytes) to the addon's exports.
void register_files(Napi::Env env, Napi::Object exports);

// Adds mergeFile(job) to the addon's exports.
void register_merge_file(Napi::Env env, Napi::Object exports);

}  // namespace lora
