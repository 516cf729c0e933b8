// Status and StatusOr: errors as values, the leveldb/absl way.
//
// Every fallible function in the core returns one of these; nothing in the
// core throws.  A Status carries a human-readable message that says what is
// wrong and, where possible, what would be right; the C ABI copies it into
// *errptr.  This file must never grow a dependency on anything but the
// standard library.
#ifndef SCULPT_CORE_STATUS_H_
#define SCULPT_CORE_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace sculpt {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status Invalid(std::string msg) {
    return Status(Code::kInvalid, std::move(msg));
  }
  static Status State(std::string msg) {
    return Status(Code::kState, std::move(msg));
  }
  static Status Corrupt(std::string msg) {
    return Status(Code::kCorrupt, std::move(msg));
  }
  static Status Io(std::string msg) {
    return Status(Code::kIo, std::move(msg));
  }

  bool ok() const { return code_ == Code::kOk; }
  bool IsInvalid() const { return code_ == Code::kInvalid; }
  bool IsState() const { return code_ == Code::kState; }
  bool IsCorrupt() const { return code_ == Code::kCorrupt; }
  bool IsIo() const { return code_ == Code::kIo; }
  const std::string& message() const { return msg_; }

 private:
  enum class Code { kOk, kInvalid, kState, kCorrupt, kIo };
  Status(Code c, std::string m) : code_(c), msg_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string msg_;
};

// A value or the Status saying why there is none.
template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(T value) : value_(std::move(value)) {}         // NOLINT: implicit
  StatusOr(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok());
  }
  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  // REQUIRES: ok().
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T& operator*() & { return *value_; }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace sculpt

#endif  // SCULPT_CORE_STATUS_H_
