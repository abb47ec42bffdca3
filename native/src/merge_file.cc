// The merged export's shard writer (src/main/export/merged.ts): one
// safetensors file, its header (made by JS) and then every tensor in order,
// read from the base files, merged (W + s·B·A) or converted by merge.cc's
// kernels, and written at its place in the output, durably: one call, which
// resolves when the bytes are on the disk.
//
// Three stages overlap, each on its own thread, handing blocks (~2 MiB) round
// a ring of buffers:
//   reader  pread of a block's pieces (a piece: some rows of one tensor)
//   merger  the kernel over each piece, in place when the type stays
//   writer  one pwrite per block, at its offset in the output
// and a fourth thread starts the disk early: an fdatasync every `syncBytes`
// written, so the one at the end waits for the last stretch only. Small
// tensors share a block, so each block is one write however small its pieces.
//
// The JS side keeps control: `control[0]` set to 1 stops the stages at the
// next block (cancel), and `progress[0]` holds the bytes written so far (both
// on SharedArrayBuffers, read and written with atomics). The first failure
// stops everything: an I/O error rejects (code as Node's fs errors, and
// `input`: the index of the base file, or -1 for the output), a value the
// kernels refuse resolves with its tensor and element (JS names them).
#include <napi.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "files.h"
#include "merge.h"

namespace lora {

namespace {

struct TensorJob {
  int input = 0;       // index of the base file
  int64_t offset = 0;  // first byte of its stored data in that file
  int src_type = 0, dst_type = 0;
  int64_t rows = 0, cols = 0;  // the stored grid (untouched tensors: numel × 1)
  // The delta, when merged (a null: converted or copied as is).
  const float* a = nullptr;
  const float* b = nullptr;
  int64_t r = 0, in_f = 0;
  double scale = 0;
  bool transposed = false;
};

// Rows [row0, row0 + rows) of one tensor, at out_at in its block's output
// buffer; read at in_at of the input buffer when the type changes (else
// in_at < 0: read straight into the output buffer and merged in place).
struct Piece {
  int tensor;
  int64_t row0, rows;
  int64_t src_off, src_bytes;
  int64_t in_at, out_at;
};

struct Block {
  size_t first, count;  // its pieces
  int64_t file_off, out_bytes, in_bytes;
};

// Pieces packed into blocks of at most `cap` output (and input) bytes; a
// single row larger than that gets a block of its own.
void plan_blocks(const std::vector<TensorJob>& tensors, int64_t out_offset, int64_t cap, std::vector<Piece>& pieces,
                 std::vector<Block>& blocks) {
  Block cur{0, 0, out_offset, 0, 0};
  int64_t pos = out_offset;
  auto close = [&] {
    if (cur.count > 0) blocks.push_back(cur);
    cur = Block{pieces.size(), 0, pos, 0, 0};
  };
  for (size_t t = 0; t < tensors.size(); ++t) {
    const TensorJob& j = tensors[t];
    const int64_t sb = stored_float_bytes(j.src_type), db = stored_float_bytes(j.dst_type);
    const bool same = j.src_type == j.dst_type;
    const int64_t row_in = j.cols * sb, row_out = j.cols * db;
    if (j.rows == 0 || j.cols == 0) continue;
    const int64_t per = std::max<int64_t>(1, cap / std::max(row_in, row_out));
    for (int64_t row0 = 0; row0 < j.rows; row0 += per) {
      const int64_t n = std::min(per, j.rows - row0);
      const int64_t in_b = n * row_in, out_b = n * row_out;
      if (cur.out_bytes + out_b > cap || (!same && cur.in_bytes + in_b > cap)) close();
      pieces.push_back({static_cast<int>(t), row0, n, j.offset + row0 * row_in, in_b, same ? -1 : cur.in_bytes, cur.out_bytes});
      cur.count += 1;
      cur.out_bytes += out_b;
      if (!same) cur.in_bytes += in_b;
      pos += out_b;
    }
  }
  close();
}

// pread/pwrite until done: false with errno set on failure (errno 0: the
// file ended first).
bool read_full(int fd, uint8_t* p, int64_t n, int64_t off) {
  while (n > 0) {
    const ssize_t k = pread(fd, p, static_cast<size_t>(std::min<int64_t>(n, 1 << 30)), off);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      if (k == 0) errno = 0;
      return false;
    }
    p += k, n -= k, off += k;
  }
  return true;
}

// Writes go out 128 KiB at a time. A larger write lets Linux (6.x) put the
// bytes in large page-cache folios, allocated from the large free blocks that
// a VM's free page reporting hands back to its host: on the bench machine one
// export in three then spent ~0.5 s of kernel time faulting them back in;
// with 128 KiB writes none did, for a few thousand more syscalls per GB.
constexpr int64_t kWriteChunk = int64_t{128} << 10;

bool write_full(int fd, const uint8_t* p, int64_t n, int64_t off) {
  while (n > 0) {
    const ssize_t k = pwrite(fd, p, static_cast<size_t>(std::min<int64_t>(n, kWriteChunk)), off);
    if (k < 0 && errno == EINTR) continue;
    if (k < 0) return false;
    p += k, n -= k, off += k;
  }
  return true;
}

int sync_data(int fd) {
#if defined(__APPLE__)
  return fsync(fd);
#else
  return fdatasync(fd);
#endif
}

// One mergeFile call: parsed on the JS thread, run on libuv's thread pool (raw
// napi_async_work, not Napi::AsyncWorker, whose completion throws when a
// worker thread is torn down under it), settled back on the JS thread.
class MergeFileWorker {
 public:
  MergeFileWorker(Napi::Env env, Napi::Object job) : env_(env), deferred_(Napi::Promise::Deferred::New(env)) {
    job_ = Napi::Persistent(job);  // keeps the typed arrays (head, A, B, control, progress) alive
    Parse(env, job);
  }

  // Queues the work; the worker deletes itself once it completes.
  Napi::Promise Start() {
    Napi::Promise promise = deferred_.Promise();
    napi_value name = Napi::String::New(env_, "lora.mergeFile");
    if (napi_create_async_work(env_, nullptr, name, &MergeFileWorker::ExecuteCb, &MergeFileWorker::CompleteCb, this, &work_) != napi_ok ||
        napi_queue_async_work(env_, work_) != napi_ok)
      throw Napi::Error::New(env_, "mergeFile: could not queue the work");
    // A worker thread terminated mid-export frees those arrays: stop the stages before it does.
    napi_add_env_cleanup_hook(env_, &MergeFileWorker::Teardown, this);
    return promise;
  }

 private:
  static void ExecuteCb(napi_env, void* self) { static_cast<MergeFileWorker*>(self)->Execute(); }

  static void CompleteCb(napi_env env, napi_status status, void* self) {
    auto* w = static_cast<MergeFileWorker*>(self);
    if (w->TornDown()) {
      // The environment takes no more JS values: settle nothing, release nothing through it.
      w->job_.SuppressDestruct();
    } else {
      napi_remove_env_cleanup_hook(env, &MergeFileWorker::Teardown, w);
      try {
        Napi::HandleScope scope(env);
        w->Settle(status);
      } catch (const Napi::Error&) {
        // the environment is going away: nobody is left to tell
      }
    }
    napi_delete_async_work(env, w->work_);
    delete w;
  }

  void Execute() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopped_) return Finish();  // torn down before it started
      started_ = true;
    }
    Run();
    Finish();
  }

 private:
  static void Teardown(void* self) {
    auto* w = static_cast<MergeFileWorker*>(self);
    std::unique_lock<std::mutex> lock(w->mu_);
    if (!w->stopped_) w->cancelled_ = true;
    w->stopped_ = true;
    w->torn_down_ = true;
    w->cv_.notify_all();
    w->cv_.wait(lock, [&] { return !w->started_ || w->finished_; });
  }

  bool TornDown() {
    std::lock_guard<std::mutex> lock(mu_);
    return torn_down_;
  }

  void Finish() {
    std::lock_guard<std::mutex> lock(mu_);
    finished_ = true;
    cv_.notify_all();
  }

  void Run() {
    plan_blocks(tensors_, out_offset_, block_bytes_, pieces_, blocks_);
    int64_t out_cap = 0, in_cap = 0;
    for (const Block& b : blocks_) out_cap = std::max(out_cap, b.out_bytes), in_cap = std::max(in_cap, b.in_bytes);
    const size_t ring = std::min(blocks_.size(), static_cast<size_t>(slots_));
    out_bufs_.assign(ring, std::vector<uint8_t>());
    in_bufs_.assign(ring, std::vector<uint8_t>());
    for (size_t i = 0; i < ring; ++i) {
      out_bufs_[i].resize(static_cast<size_t>(out_cap));
      if (in_cap > 0) in_bufs_[i].resize(static_cast<size_t>(in_cap));
    }
    if (!write_full(out_fd_, head_, head_bytes_, 0)) return Fail(errno, "write", -1, 0);
    std::vector<std::thread> threads;
    try {
      threads.emplace_back([this] { Reader(); });
      threads.emplace_back([this] { Writer(); });
      threads.emplace_back([this] { Syncer(); });
      Merger();
    } catch (const std::exception&) {
      Fail(EAGAIN, "start the export's threads", -1);
    }
    for (std::thread& t : threads) t.join();
    if (!stopped_ && sync_data(out_fd_) != 0) Fail(errno, "fdatasync", -1);
  }

  void Settle(napi_status status) {
    Napi::Env env = env_;
    if (status != napi_ok) {
      deferred_.Reject(Napi::Error::New(env, "mergeFile: the work was cancelled before it ran").Value());
      return;
    }
    if (err_ >= 0) {
      Napi::Error e = err_ == 0 ? Napi::Error::New(env, err_what_ + ": the file ended before the tensor's data did")
                                : system_error(env, err_, err_what_);
      if (err_ == 0) e.Set("code", "ESHORT");
      e.Set("syscall", err_what_);
      e.Set("input", Napi::Number::New(env, err_input_));
      e.Set("offset", Napi::Number::New(env, static_cast<double>(err_offset_)));
      deferred_.Reject(e.Value());
      return;
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("cancelled", Napi::Boolean::New(env, cancelled_));
    if (problem_tensor_ >= 0) {
      Napi::Object p = Napi::Object::New(env);
      p.Set("tensor", problem_tensor_);
      p.Set("index", Napi::Number::New(env, static_cast<double>(problem_index_)));
      p.Set("kind", problem_kind_ == FloatProblem::kNonFinite ? "nonfinite" : "overflow");
      out.Set("problem", p);
    } else {
      out.Set("problem", env.Null());
    }
    deferred_.Resolve(out);
  }

  // ---- arguments (on the JS thread) ----

  static int64_t Count(Napi::Env env, Napi::Object o, const char* key) {
    Napi::Value v = o.Get(key);
    const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
    if (!(d >= 0) || d != static_cast<double>(static_cast<int64_t>(d)) || d > 9.0e15)
      throw Napi::RangeError::New(env, std::string("mergeFile: '") + key + "' must be a non-negative integer");
    return static_cast<int64_t>(d);
  }

  static int Type(Napi::Env env, Napi::Object o, const char* key, bool writable) {
    Napi::Value v = o.Get(key);
    const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
    const int t = s == "F32" ? kStoredF32 : s == "F16" ? kStoredF16 : s == "BF16" ? kStoredBF16 : s == "F64" && !writable ? kStoredF64 : -1;
    if (t < 0) throw Napi::TypeError::New(env, std::string("mergeFile: '") + key + "' must be a float type");
    return t;
  }

  template <typename T>
  static T* Typed(Napi::Env env, Napi::Value v, napi_typedarray_type kind, int64_t length, const char* what) {
    if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kind)
      throw Napi::TypeError::New(env, std::string("mergeFile: '") + what + "' has the wrong array type");
    // napi_get_typedarray_info's own data pointer: unlike the ArrayBuffer's, it is there for
    // arrays on a SharedArrayBuffer too (control, progress).
    napi_typedarray_type type;
    size_t n = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env, v, &type, &n, &data, nullptr, nullptr) != napi_ok || static_cast<int64_t>(n) != length)
      throw Napi::RangeError::New(env, std::string("mergeFile: '") + what + "' has the wrong length");
    return static_cast<T*>(data);
  }

  void Parse(Napi::Env env, Napi::Object job) {
    Napi::Value inputs = job.Get("inputs");
    if (!inputs.IsArray()) throw Napi::TypeError::New(env, "mergeFile: 'inputs' must be an array of file descriptors");
    Napi::Array in = inputs.As<Napi::Array>();
    for (uint32_t i = 0; i < in.Length(); ++i) {
      Napi::Value v = in.Get(i);
      if (!v.IsNumber() || v.As<Napi::Number>().Int32Value() < 0) throw Napi::TypeError::New(env, "mergeFile: 'inputs' must be file descriptors");
      input_fds_.push_back(v.As<Napi::Number>().Int32Value());
    }
    out_fd_ = static_cast<int>(Count(env, job, "out"));
    Napi::Value head = job.Get("head");
    if (!head.IsTypedArray() || head.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      throw Napi::TypeError::New(env, "mergeFile: 'head' must be a Uint8Array (the file's first bytes)");
    head_bytes_ = static_cast<int64_t>(head.As<Napi::TypedArray>().ByteLength());
    head_ = Typed<const uint8_t>(env, head, napi_uint8_array, head_bytes_, "head");
    out_offset_ = head_bytes_;
    block_bytes_ = std::max<int64_t>(4096, Count(env, job, "blockBytes"));
    slots_ = static_cast<int>(std::clamp<int64_t>(Count(env, job, "slots"), 2, 64));
    sync_bytes_ = Count(env, job, "syncBytes");
    control_ = Typed<int32_t>(env, job.Get("control"), napi_int32_array, 1, "control");
    progress_ = Typed<double>(env, job.Get("progress"), napi_float64_array, 1, "progress");
    Napi::Value list = job.Get("tensors");
    if (!list.IsArray()) throw Napi::TypeError::New(env, "mergeFile: 'tensors' must be an array");
    Napi::Array ts = list.As<Napi::Array>();
    for (uint32_t i = 0; i < ts.Length(); ++i) {
      if (!ts.Get(i).IsObject()) throw Napi::TypeError::New(env, "mergeFile: every tensor must be an object");
      Napi::Object o = ts.Get(i).As<Napi::Object>();
      TensorJob t;
      t.input = static_cast<int>(Count(env, o, "input"));
      if (t.input >= static_cast<int>(input_fds_.size())) throw Napi::RangeError::New(env, "mergeFile: a tensor's 'input' is not in 'inputs'");
      t.offset = Count(env, o, "offset");
      t.src_type = Type(env, o, "srcType", false);
      t.dst_type = Type(env, o, "dstType", true);
      t.rows = Count(env, o, "rows");
      t.cols = Count(env, o, "cols");
      Napi::Value d = o.Get("delta");
      if (d.IsObject()) {
        Napi::Object delta = d.As<Napi::Object>();
        t.r = Count(env, delta, "r");
        t.in_f = Count(env, delta, "inF");
        const int64_t out_f = Count(env, delta, "outF");
        t.transposed = delta.Get("transposed").ToBoolean();
        Napi::Value s = delta.Get("scale");
        if (!s.IsNumber()) throw Napi::TypeError::New(env, "mergeFile: a delta's 'scale' must be a number");
        t.scale = s.As<Napi::Number>().DoubleValue();
        t.a = Typed<const float>(env, delta.Get("a"), napi_float32_array, t.r * t.in_f, "delta.a");
        t.b = Typed<const float>(env, delta.Get("b"), napi_float32_array, out_f * t.r, "delta.b");
        if (t.cols != (t.transposed ? out_f : t.in_f) || t.rows != (t.transposed ? t.in_f : out_f))
          throw Napi::RangeError::New(env, "mergeFile: a merged tensor's rows × cols must be the delta's [out, in] (or [in, out] transposed)");
      } else if (t.src_type == t.dst_type && t.cols != 1) {
        throw Napi::RangeError::New(env, "mergeFile: an unmerged tensor is rows = its element count, cols = 1");
      }
      tensors_.push_back(t);
    }
  }

  // ---- the stages (background threads) ----

  bool Cancelled() const { return __atomic_load_n(control_, __ATOMIC_ACQUIRE) != 0; }

  // Stops every stage; the first failure is the one reported.
  void Fail(int e, const std::string& what, int input, int64_t offset = 0) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopped_) {
      err_ = e, err_what_ = what, err_input_ = input, err_offset_ = offset;
      stopped_ = true;
    }
    cv_.notify_all();
  }

  void Stop(bool cancelled) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopped_) cancelled_ = cancelled;
    stopped_ = true;
    cv_.notify_all();
  }

  // Waits until `ready` or a stop; false on a stop.
  template <typename F>
  bool Await(F ready) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return stopped_ || ready(); });
    return !stopped_;
  }

  void Advance(size_t& counter, size_t value) {
    std::lock_guard<std::mutex> lock(mu_);
    counter = value;
    cv_.notify_all();
  }

  // Block k's output buffer (a ring of them).
  uint8_t* OutBuffer(size_t k) { return out_bufs_[k % out_bufs_.size()].data(); }

  // Where piece p of block k holds its stored bytes: the input buffer when its type changes, else
  // its own place in the output buffer (merged in place).
  uint8_t* StoredAt(size_t k, const Piece& p) {
    return p.in_at < 0 ? OutBuffer(k) + p.out_at : in_bufs_[k % in_bufs_.size()].data() + p.in_at;
  }

  void Reader() {
    for (size_t k = 0; k < blocks_.size(); ++k) {
      if (!Await([&] { return k - written_ < out_bufs_.size(); })) return;
      if (Cancelled()) return Stop(true);
      const Block& b = blocks_[k];
      for (size_t i = b.first; i < b.first + b.count; ++i) {
        const Piece& p = pieces_[i];
        const TensorJob& t = tensors_[p.tensor];
        if (!read_full(input_fds_[t.input], StoredAt(k, p), p.src_bytes, p.src_off))
          return Fail(errno, "read", t.input, p.src_off);
      }
      Advance(read_, k + 1);
    }
  }

  void Merger() {
    for (size_t k = 0; k < blocks_.size(); ++k) {
      if (!Await([&] { return read_ > k; })) return;
      const Block& b = blocks_[k];
      for (size_t i = b.first; i < b.first + b.count; ++i) {
        const Piece& p = pieces_[i];
        const TensorJob& t = tensors_[p.tensor];
        const uint8_t* src = StoredAt(k, p);
        uint8_t* dst = OutBuffer(k) + p.out_at;
        // One thread: the other stages keep the other cores busy.
        FloatProblem problem;
        if (t.a) {
          problem = merge_lora_rows(src, t.src_type, dst, t.dst_type, p.rows, t.cols, p.row0, t.a, t.b, t.r, t.in_f, t.scale,
                                    t.transposed, 1);
        } else if (t.src_type != t.dst_type) {
          problem = convert_floats(src, t.src_type, dst, t.dst_type, p.rows * t.cols, 1);
        }
        if (problem.index >= 0) {
          std::lock_guard<std::mutex> lock(mu_);
          if (!stopped_) {
            problem_tensor_ = p.tensor;
            problem_index_ = p.row0 * t.cols + problem.index;
            problem_kind_ = problem.kind;
            stopped_ = true;
          }
          cv_.notify_all();
          return;
        }
      }
      Advance(merged_, k + 1);
    }
  }

  void Writer() {
    int64_t bytes = 0;
    for (size_t k = 0; k < blocks_.size(); ++k) {
      if (!Await([&] { return merged_ > k; })) return;
      const Block& b = blocks_[k];
      if (!write_full(out_fd_, OutBuffer(k), b.out_bytes, b.file_off))
        return Fail(errno, "write", -1, b.file_off);
      bytes += b.out_bytes;
      const double done = static_cast<double>(bytes);
      __atomic_store(progress_, &done, __ATOMIC_RELEASE);
      std::lock_guard<std::mutex> lock(mu_);
      written_ = k + 1;
      written_bytes_ = bytes;
      cv_.notify_all();
    }
  }

  void Syncer() {
    if (sync_bytes_ <= 0) return;
    int64_t synced = 0;
    for (;;) {
      int64_t target = 0;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopped_ || written_ == blocks_.size() || written_bytes_ - synced >= sync_bytes_; });
        if (stopped_ || written_ == blocks_.size()) return;  // the last stretch is Execute's
        target = written_bytes_;
      }
      if (sync_data(out_fd_) != 0) return Fail(errno, "fdatasync", -1);
      synced = target;
    }
  }

  Napi::Env env_;
  napi_async_work work_ = nullptr;
  Napi::Promise::Deferred deferred_;
  Napi::ObjectReference job_;
  std::vector<int> input_fds_;
  std::vector<TensorJob> tensors_;
  int out_fd_ = -1;
  const uint8_t* head_ = nullptr;
  int64_t head_bytes_ = 0;
  int64_t out_offset_ = 0, block_bytes_ = 2 << 20, sync_bytes_ = 8 << 20;
  int slots_ = 4;
  int32_t* control_ = nullptr;
  double* progress_ = nullptr;

  std::vector<Piece> pieces_;
  std::vector<Block> blocks_;
  std::vector<std::vector<uint8_t>> out_bufs_, in_bufs_;

  std::mutex mu_;
  std::condition_variable cv_;
  size_t read_ = 0, merged_ = 0, written_ = 0;
  int64_t written_bytes_ = 0;
  bool stopped_ = false, cancelled_ = false, started_ = false, finished_ = false, torn_down_ = false;
  int err_ = -1;  // errno of the failure (0: a file ended early), -1: none
  std::string err_what_;
  int err_input_ = -1;
  int64_t err_offset_ = 0;
  int problem_tensor_ = -1;
  int64_t problem_index_ = 0;
  FloatProblem::Kind problem_kind_ = FloatProblem::kNone;
};

Napi::Value MergeFile(const Napi::CallbackInfo& info) {
  if (!info[0].IsObject()) throw Napi::TypeError::New(info.Env(), "mergeFile(job): job must be an object");
  auto* worker = new MergeFileWorker(info.Env(), info[0].As<Napi::Object>());
  try {
    return worker->Start();
  } catch (...) {
    delete worker;
    throw;
  }
}

}  // namespace

void register_merge_file(Napi::Env env, Napi::Object exports) {
  exports.Set("mergeFile", Napi::Function::New(env, MergeFile));
}

}  // namespace lora
