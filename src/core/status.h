// quench core: errors as values.
//
// Every fallible library function returns a Status or a Result<T>. The code separates what the user
// must fix (kInvalid: a bad model, config or data file) from what is valid but not implemented yet
// (kUnsupported), as XNNPACK's xnn_status does. Messages name the place, the offending value and
// the rule:
//
//   Result<Tensor> r = read_npy("x.npy");
//   if (!r.ok()) return r.status().with_context("calibration data");
//   Tensor t = std::move(r).value();
//
// Only the CLI prints a Status; only the Python binding turns one into an exception.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace quench {

enum class StatusCode {
  kOk = 0,
  kInvalid,      // the input (model, config, data, argument) breaks a rule: the user's to fix
  kUnsupported,  // valid input that quench does not handle yet
  kNotFound,     // a named file, value or node does not exist
  kIoError,      // the operating system refused a read or a write
  kInternal,     // a broken invariant inside quench: a bug
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }
  static Status invalid(std::string m) { return {StatusCode::kInvalid, std::move(m)}; }
  static Status unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
  static Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status io_error(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "prefix: message", keeping the code. Used to add the place (file, node, JSON path) on the way up.
  Status with_context(const std::string& prefix) const {
    if (ok()) return *this;
    return Status(code_, prefix + ": " + message_);
  }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    assert(!std::get<Status>(v_).ok() && "Result built from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &std::get<T>(v_); }
  const T* operator->() const { return &std::get<T>(v_); }
  T& operator*() & { return std::get<T>(v_); }
  const T& operator*() const& { return std::get<T>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace quench

#define QUENCH_CONCAT_INNER_(a, b) a##b
#define QUENCH_CONCAT_(a, b) QUENCH_CONCAT_INNER_(a, b)

#define QUENCH_RETURN_IF_ERROR(expr)              \
  do {                                            \
    ::quench::Status quench_status_ = (expr);     \
    if (!quench_status_.ok()) return quench_status_; \
  } while (0)

#define QUENCH_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

// QUENCH_ASSIGN_OR_RETURN(Tensor t, read_npy(path));
#define QUENCH_ASSIGN_OR_RETURN(lhs, expr) \
  QUENCH_ASSIGN_OR_RETURN_IMPL_(QUENCH_CONCAT_(quench_result_, __LINE__), lhs, expr)
