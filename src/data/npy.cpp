#include "data/npy.h"

#include <cctype>
#include <cstring>

#include "core/file_io.h"
#include "data/file_util.h"

namespace quench {

using data_internal::checked_mul;
using data_internal::quote_path;
using data_internal::ReadFile;

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

struct DescrEntry {
  const char* code;  // kind + item size, without the byte-order character
  DType dtype;
};
constexpr DescrEntry kDescrs[] = {
    {"f2", DType::kFloat16}, {"f4", DType::kFloat32}, {"f8", DType::kFloat64},
    {"i1", DType::kInt8},    {"i2", DType::kInt16},   {"i4", DType::kInt32},
    {"i8", DType::kInt64},   {"u1", DType::kUInt8},   {"u2", DType::kUInt16},
    {"u4", DType::kUInt32},  {"u8", DType::kUInt64},  {"b1", DType::kBool},
};

// A parsed Python literal from the header dict: just what .npy headers contain.
struct PyValue {
  enum Kind { kString, kBool, kTuple, kOther } kind = kOther;
  std::string str;
  bool boolean = false;
  std::vector<int64_t> ints;
};

// Recursive-descent reader of the header dict {'descr': '<f4', 'fortran_order': False,
// 'shape': (2, 3), }. Python 2 files may write shape ints with an 'L' suffix.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::string place) : s_(text), place_(std::move(place)) {}

  Result<std::vector<std::pair<std::string, PyValue>>> parse_dict() {
    std::vector<std::pair<std::string, PyValue>> out;
    skip_ws();
    if (!eat('{')) return error("expected '{' at the start of the header dict");
    while (true) {
      skip_ws();
      if (eat('}')) break;
      QUENCH_ASSIGN_OR_RETURN(std::string key, parse_string());
      skip_ws();
      if (!eat(':')) return error("expected ':' after key '" + key + "'");
      skip_ws();
      QUENCH_ASSIGN_OR_RETURN(PyValue v, parse_value());
      out.emplace_back(std::move(key), std::move(v));
      skip_ws();
      if (eat(',')) continue;
      skip_ws();
      if (eat('}')) break;
      return error("expected ',' or '}' in the header dict");
    }
    return out;
  }

 private:
  void skip_ws() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool eat(char c) {
    if (pos_ < s_.size() && s_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  Status error(const std::string& what) const {
    return Status::invalid(place_ + ": bad .npy header: " + what + " at character " +
                           std::to_string(pos_) + " of \"" + std::string(s_) + "\"");
  }
  Result<std::string> parse_string() {
    if (pos_ >= s_.size() || (s_[pos_] != '\'' && s_[pos_] != '"')) return error("expected a string");
    char q = s_[pos_++];
    size_t end = s_.find(q, pos_);
    if (end == std::string_view::npos) return error("unterminated string");
    std::string out(s_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return out;
  }
  Result<PyValue> parse_value() {
    PyValue v;
    if (pos_ >= s_.size()) return error("expected a value");
    char c = s_[pos_];
    if (c == '\'' || c == '"') {
      v.kind = PyValue::kString;
      QUENCH_ASSIGN_OR_RETURN(v.str, parse_string());
      return v;
    }
    if (s_.substr(pos_, 4) == "True") {
      pos_ += 4;
      v.kind = PyValue::kBool;
      v.boolean = true;
      return v;
    }
    if (s_.substr(pos_, 5) == "False") {
      pos_ += 5;
      v.kind = PyValue::kBool;
      return v;
    }
    if (c == '(') {
      ++pos_;
      v.kind = PyValue::kTuple;
      while (true) {
        skip_ws();
        if (eat(')')) break;
        if (pos_ >= s_.size() || !std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
          return error("expected a non-negative integer in the shape tuple");
        }
        int64_t d = 0;
        while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
          if (!checked_mul(d, 10, &d) || __builtin_add_overflow(d, s_[pos_] - '0', &d)) {
            return error("shape dimension too large");
          }
          ++pos_;
        }
        eat('L');
        v.ints.push_back(d);
        skip_ws();
        if (eat(',')) continue;
        skip_ws();
        if (eat(')')) break;
        return error("expected ',' or ')' in the shape tuple");
      }
      return v;
    }
    if (c == '[') {
      // A structured dtype (list of fields): skip it, the caller reports it as unsupported.
      int depth = 0;
      for (; pos_ < s_.size(); ++pos_) {
        if (s_[pos_] == '[') ++depth;
        if (s_[pos_] == ']' && --depth == 0) {
          ++pos_;
          return v;
        }
      }
      return error("unterminated list");
    }
    return error("unexpected character '" + std::string(1, c) + "'");
  }

  std::string_view s_;
  std::string place_;
  size_t pos_ = 0;
};

uint32_t read_le(const unsigned char* p, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

Result<DType> dtype_from_descr(const std::string& descr, const std::string& place) {
  if (descr.size() == 3) {
    char order = descr[0];
    std::string code = descr.substr(1);
    for (const DescrEntry& e : kDescrs) {
      if (code != e.code) continue;
      bool single_byte = dtype_size(e.dtype) == 1;
      if (order == '<' || order == '=' || (order == '|' && single_byte) ||
          (order == '>' && single_byte)) {
        return e.dtype;
      }
      if (order == '>') {
        return Status::unsupported(place + ": big-endian data ('" + descr +
                                   "') is not supported; save it little-endian (arr.astype('<" +
                                   code + "'))");
      }
    }
  }
  return Status::unsupported(place + ": dtype '" + descr +
                             "' is not supported (supported: float16/32/64, int8/16/32/64, "
                             "uint8/16/32/64, bool; little-endian)");
}

const char* descr_of(DType t) {
  switch (t) {
    case DType::kFloat16: return "<f2";
    case DType::kFloat32: return "<f4";
    case DType::kFloat64: return "<f8";
    case DType::kInt8: return "|i1";
    case DType::kInt16: return "<i2";
    case DType::kInt32: return "<i4";
    case DType::kInt64: return "<i8";
    case DType::kUInt8: return "|u1";
    case DType::kUInt16: return "<u2";
    case DType::kUInt32: return "<u4";
    case DType::kUInt64: return "<u8";
    case DType::kBool: return "|b1";
    default: return nullptr;
  }
}

// Opens a file and parses its header, checking that the data is all there.
Result<std::pair<ReadFile, NpyHeader>> open_npy(const std::string& path) {
  QUENCH_ASSIGN_OR_RETURN(ReadFile file, ReadFile::open(path));
  const std::string place = quote_path(path);
  QUENCH_ASSIGN_OR_RETURN(std::string head, file.read_prefix(12));
  if (head.size() < 10 || std::memcmp(head.data(), kMagic, kMagicSize) != 0) {
    return Status::invalid(place + ": not a .npy file (it does not start with \\x93NUMPY)");
  }
  QUENCH_ASSIGN_OR_RETURN(NpyHeader probe, parse_npy_header(head, place));
  (void)probe;  // only the length fields were needed; parse again with the whole header below
  const auto* u = reinterpret_cast<const unsigned char*>(head.data());
  int64_t len_bytes = head[6] == 1 ? 2 : 4;
  int64_t header_end = 8 + len_bytes + read_le(u + 8, static_cast<int>(len_bytes));
  if (header_end > file.size()) {
    return Status::invalid(place + ": truncated: the header says it is " +
                           std::to_string(header_end) + " bytes long but the file has " +
                           std::to_string(file.size()) + " bytes");
  }
  QUENCH_ASSIGN_OR_RETURN(std::string full, file.read_prefix(header_end));
  QUENCH_ASSIGN_OR_RETURN(NpyHeader h, parse_npy_header(full, place));
  int64_t numel = 1;
  for (int64_t d : h.shape) {
    if (!checked_mul(numel, d, &numel)) return Status::invalid(place + ": shape too large");
  }
  int64_t data_bytes = 0;
  if (!checked_mul(numel, static_cast<int64_t>(dtype_size(h.dtype)), &data_bytes)) {
    return Status::invalid(place + ": shape too large");
  }
  int64_t have = file.size() - h.data_offset;
  if (have < data_bytes) {
    return Status::invalid(place + ": truncated: expected " + std::to_string(data_bytes) +
                           " bytes of data (" + std::string(dtype_name(h.dtype)) +
                           shape_to_string(h.shape) + ") after the " + std::to_string(h.data_offset) +
                           "-byte header, the file has " + std::to_string(have));
  }
  return std::make_pair(std::move(file), std::move(h));
}

class NpyReader final : public ArrayReader {
 public:
  NpyReader(ReadFile file, NpyHeader header)
      : file_(std::move(file)), header_(std::move(header)) {
    row_bytes_ = static_cast<int64_t>(dtype_size(header_.dtype));
    for (size_t i = 1; i < header_.shape.size(); ++i) row_bytes_ *= header_.shape[i];
  }
  const std::string& path() const override { return file_.path(); }
  DType dtype() const override { return header_.dtype; }
  const Shape& shape() const override { return header_.shape; }
  int64_t position() const override { return position_; }
  Status rewind() override {
    position_ = 0;
    return Status();
  }
  Result<Tensor> read_rows(int64_t count) override {
    if (count < 1 || count > remaining()) {
      return Status::internal("npy read_rows(" + std::to_string(count) + ") with " +
                              std::to_string(remaining()) + " rows left");
    }
    Shape s = header_.shape;
    s[0] = count;
    QUENCH_ASSIGN_OR_RETURN(Tensor t, data_internal::allocate_tensor(header_.dtype, s, file_.path()));
    QUENCH_RETURN_IF_ERROR(
        file_.read_at(header_.data_offset + position_ * row_bytes_, t.raw_data(), count * row_bytes_));
    position_ += count;
    return t;
  }

 private:
  ReadFile file_;
  NpyHeader header_;
  int64_t row_bytes_ = 0;
  int64_t position_ = 0;
};

}  // namespace

Result<NpyHeader> parse_npy_header(std::string_view bytes, const std::string& place) {
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, kMagicSize) != 0) {
    return Status::invalid(place + ": not a .npy file (it does not start with \\x93NUMPY)");
  }
  NpyHeader h;
  h.major_version = static_cast<unsigned char>(bytes[6]);
  h.minor_version = static_cast<unsigned char>(bytes[7]);
  if (h.major_version < 1 || h.major_version > 3) {
    return Status::unsupported(place + ": .npy format version " + std::to_string(h.major_version) +
                               "." + std::to_string(h.minor_version) +
                               " is not supported (1.0, 2.0 and 3.0 are)");
  }
  const auto* u = reinterpret_cast<const unsigned char*>(bytes.data());
  size_t len_bytes = h.major_version == 1 ? 2 : 4;
  if (bytes.size() < 8 + len_bytes) return Status::invalid(place + ": truncated .npy header");
  int64_t header_len = read_le(u + 8, static_cast<int>(len_bytes));
  h.data_offset = static_cast<int64_t>(8 + len_bytes) + header_len;
  if (static_cast<int64_t>(bytes.size()) < h.data_offset) {
    // The caller only gave the fixed part; the dict is parsed on a second call.
    return h;
  }
  std::string_view dict = bytes.substr(8 + len_bytes, static_cast<size_t>(header_len));
  HeaderParser parser(dict, place);
  QUENCH_ASSIGN_OR_RETURN(auto entries, parser.parse_dict());
  bool have_descr = false, have_shape = false;
  for (auto& [key, v] : entries) {
    if (key == "descr") {
      if (v.kind != PyValue::kString) {
        return Status::unsupported(place + ": structured dtypes (a list as 'descr') are not supported");
      }
      QUENCH_ASSIGN_OR_RETURN(h.dtype, dtype_from_descr(v.str, place));
      have_descr = true;
    } else if (key == "fortran_order") {
      if (v.kind != PyValue::kBool) return Status::invalid(place + ": 'fortran_order' is not True/False");
      if (v.boolean) {
        return Status::unsupported(place +
                                   ": Fortran-order arrays are not supported; save a C-order array "
                                   "(np.save(path, np.ascontiguousarray(a)))");
      }
    } else if (key == "shape") {
      if (v.kind != PyValue::kTuple) return Status::invalid(place + ": 'shape' is not a tuple");
      h.shape = v.ints;
      have_shape = true;
    }
  }
  if (!have_descr || !have_shape) {
    return Status::invalid(place + ": bad .npy header: missing '" +
                           std::string(have_descr ? "shape" : "descr") + "'");
  }
  return h;
}

Result<std::string> make_npy_header(DType dtype, const Shape& shape) {
  const char* descr = descr_of(dtype);
  if (!descr) {
    return Status::unsupported("cannot write " + std::string(dtype_name(dtype)) + " to .npy");
  }
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < shape.size(); ++i) {
    dict += std::to_string(shape[i]);
    if (shape.size() == 1 || i + 1 < shape.size()) dict += ",";
    if (i + 1 < shape.size()) dict += " ";
  }
  dict += "), }";
  // numpy pads so that the data starts at a multiple of 64 bytes, and ends the header with '\n'.
  bool v2 = dict.size() + 1 + 10 > 65535;
  size_t fixed = v2 ? 12 : 10;
  size_t total = fixed + dict.size() + 1;
  size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict += '\n';
  std::string out(kMagic, kMagicSize);
  out += static_cast<char>(v2 ? 2 : 1);
  out += '\0';
  uint32_t len = static_cast<uint32_t>(dict.size());
  for (size_t i = 0; i < (v2 ? 4u : 2u); ++i) out += static_cast<char>((len >> (8 * i)) & 0xff);
  out += dict;
  return out;
}

Result<Tensor> read_npy(const std::string& path) {
  QUENCH_ASSIGN_OR_RETURN(auto fh, open_npy(path));
  auto& [file, header] = fh;
  Tensor t = Tensor::empty(header.dtype, header.shape);
  QUENCH_RETURN_IF_ERROR(file.read_at(header.data_offset, t.raw_data(), static_cast<int64_t>(t.nbytes())));
  return t;
}

Status write_npy(const std::string& path, const Tensor& tensor) {
  if (!tensor.defined()) return Status::invalid(quote_path(path) + ": cannot write an empty tensor");
  QUENCH_ASSIGN_OR_RETURN(Tensor plain, to_plain(tensor));
  auto header = make_npy_header(plain.dtype(), plain.shape());
  if (!header.ok()) return header.status().with_context(quote_path(path));
  std::string bytes = std::move(header).value();
  bytes.append(static_cast<const char*>(plain.raw_data()), plain.nbytes());
  return write_file_atomic(path, bytes);
}

Result<std::unique_ptr<ArrayReader>> open_npy_reader(const std::string& path) {
  QUENCH_ASSIGN_OR_RETURN(auto fh, open_npy(path));
  if (fh.second.shape.empty()) {
    return Status::invalid(quote_path(path) + ": a scalar (shape ()) has no samples; the first axis is "
                           "the sample axis");
  }
  return std::unique_ptr<ArrayReader>(new NpyReader(std::move(fh.first), std::move(fh.second)));
}

}  // namespace quench
