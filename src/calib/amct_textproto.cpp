// Protobuf text format subset (amct_textproto.h): a tokenizer, a recursive-descent parser into a
// field tree, and a printer.
#include "calib/amct_textproto.h"

#include <fmt/format.h>

#include <cctype>
#include <cmath>

namespace quench::calib_internal {

namespace {

enum class Tok { kIdent, kNumber, kString, kPunct, kEnd };

struct Token {
  Tok kind = Tok::kEnd;
  std::string text;
  int line = 1;
};

std::string describe(const Token& t) {
  if (t.kind == Tok::kEnd) return "end of file";
  return "'" + t.text + "'";
}

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Result<Token> next() {
    skip_space();
    Token t;
    t.line = line_;
    if (i_ >= s_.size()) return t;
    const char c = s_[i_];
    if (c == '"' || c == '\'') {
      t.kind = Tok::kString;
      // Adjacent string literals form one value ("a" "b" == "ab").
      while (i_ < s_.size() && (s_[i_] == '"' || s_[i_] == '\'')) {
        const char q = s_[i_];
        const size_t start = i_++;
        while (i_ < s_.size() && s_[i_] != q) {
          if (s_[i_] == '\n') return error(t.line, "unterminated string");
          if (s_[i_] == '\\') ++i_;
          ++i_;
        }
        if (i_ >= s_.size()) return error(t.line, "unterminated string");
        ++i_;
        if (!t.text.empty()) t.text += ' ';
        t.text.append(s_.substr(start, i_ - start));
        skip_space();
      }
      return t;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      t.kind = Tok::kIdent;
      while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) ||
                                s_[i_] == '_' || s_[i_] == '.'))
        t.text += s_[i_++];
      return t;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.') {
      t.kind = Tok::kNumber;
      while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) ||
                                s_[i_] == '.' || s_[i_] == '-' || s_[i_] == '+'))
        t.text += s_[i_++];
      return t;
    }
    if (std::string_view("{}<>[]:,;").find(c) != std::string_view::npos) {
      t.kind = Tok::kPunct;
      t.text = std::string(1, c);
      ++i_;
      return t;
    }
    return error(line_, fmt::format("unexpected character '{}'", c));
  }

 private:
  static Status error(int line, const std::string& m) {
    return Status::invalid(fmt::format("line {}: {}", line, m));
  }
  void skip_space() {
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == '\n') {
        ++line_;
        ++i_;
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        ++i_;
      } else if (c == '#') {
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      } else {
        break;
      }
    }
  }

  std::string_view s_;
  size_t i_ = 0;
  int line_ = 1;
};

class Parser {
 public:
  explicit Parser(std::string_view s) : lex_(s) {}

  Result<std::vector<TextProtoField>> parse() {
    QUENCH_RETURN_IF_ERROR(advance());
    std::vector<TextProtoField> out;
    QUENCH_RETURN_IF_ERROR(parse_fields(out, ""));
    if (tok_.kind != Tok::kEnd)
      return error(tok_.line, "expected a field name (got " + describe(tok_) + ")");
    return out;
  }

 private:
  Status advance() {
    QUENCH_ASSIGN_OR_RETURN(tok_, lex_.next());
    return Status::ok_status();
  }
  static Status error(int line, const std::string& m) {
    return Status::invalid(fmt::format("line {}: {}", line, m));
  }
  bool at(const char* punct) const { return tok_.kind == Tok::kPunct && tok_.text == punct; }

  // Fields until `close` ("}" or ">"), or the end of the file when close is "".
  Status parse_fields(std::vector<TextProtoField>& out, const std::string& close) {
    while (tok_.kind != Tok::kEnd && !(tok_.kind == Tok::kPunct && tok_.text == close)) {
      if (tok_.kind != Tok::kIdent)
        return error(tok_.line, "expected a field name (got " + describe(tok_) + ")");
      const std::string name = tok_.text;
      const int line = tok_.line;
      QUENCH_RETURN_IF_ERROR(advance());
      const bool colon = at(":");
      if (colon) QUENCH_RETURN_IF_ERROR(advance());
      if (at("[")) {
        QUENCH_RETURN_IF_ERROR(advance());
        while (!at("]")) {
          QUENCH_RETURN_IF_ERROR(parse_value(out, name, line, /*colon=*/true));
          if (at(",")) QUENCH_RETURN_IF_ERROR(advance());
          else if (!at("]"))
            return error(tok_.line, "expected ',' or ']' in the list \"" + name + "\" (got " +
                                        describe(tok_) + ")");
        }
        QUENCH_RETURN_IF_ERROR(advance());
      } else {
        QUENCH_RETURN_IF_ERROR(parse_value(out, name, line, colon));
      }
      if (at(",") || at(";")) QUENCH_RETURN_IF_ERROR(advance());
    }
    return Status::ok_status();
  }

  Status parse_value(std::vector<TextProtoField>& out, const std::string& name, int line,
                     bool colon) {
    if (at("{") || at("<")) {
      const std::string close = at("{") ? "}" : ">";
      QUENCH_RETURN_IF_ERROR(advance());
      TextProtoField f;
      f.name = name;
      f.is_message = true;
      f.line = line;
      QUENCH_RETURN_IF_ERROR(parse_fields(f.fields, close));
      if (!at(close.c_str()))
        return error(tok_.line, "expected '" + close + "' to close \"" + name + "\" (got " +
                                    describe(tok_) + ")");
      QUENCH_RETURN_IF_ERROR(advance());
      out.push_back(std::move(f));
      return Status::ok_status();
    }
    if (!colon)
      return error(tok_.line, "expected ':' or '{' after \"" + name + "\" (got " +
                                  describe(tok_) + ")");
    if (tok_.kind != Tok::kIdent && tok_.kind != Tok::kNumber && tok_.kind != Tok::kString)
      return error(tok_.line, "expected a value for \"" + name + "\" (got " + describe(tok_) +
                                  ")");
    TextProtoField f = text_proto_scalar(name, tok_.text);
    f.line = tok_.line;
    out.push_back(std::move(f));
    return advance();
  }

  Lexer lex_;
  Token tok_;
};

void print_fields(const std::vector<TextProtoField>& fields, int depth, std::string& out) {
  const std::string pad(static_cast<size_t>(2 * depth), ' ');
  for (const TextProtoField& f : fields) {
    if (f.is_message) {
      out += pad + f.name + " {\n";
      print_fields(f.fields, depth + 1, out);
      out += pad + "}\n";
    } else {
      out += pad + f.name + ": " + f.value + "\n";
    }
  }
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

Result<std::vector<TextProtoField>> parse_text_proto(std::string_view text) {
  return Parser(text).parse();
}

std::string print_text_proto(const std::vector<TextProtoField>& fields) {
  std::string out;
  print_fields(fields, 0, out);
  return out;
}

TextProtoField text_proto_scalar(std::string name, std::string value) {
  TextProtoField f;
  f.name = std::move(name);
  f.value = std::move(value);
  return f;
}

TextProtoField text_proto_message(std::string name, std::vector<TextProtoField> fields) {
  TextProtoField f;
  f.name = std::move(name);
  f.is_message = true;
  f.fields = std::move(fields);
  return f;
}

Result<std::string> unquote_text_proto_string(std::string_view token) {
  std::string out;
  size_t i = 0;
  bool any = false;
  while (i < token.size()) {
    if (token[i] == ' ') {
      ++i;
      continue;
    }
    const char q = token[i];
    if (q != '"' && q != '\'')
      return Status::invalid("expected a quoted string (got " + std::string(token) + ")");
    any = true;
    ++i;
    while (i < token.size() && token[i] != q) {
      char c = token[i++];
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i >= token.size()) break;
      c = token[i++];
      switch (c) {
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'a': out += '\a'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case 'x': {
          int v = 0, n = 0;
          while (n < 2 && i < token.size() && hex_digit(token[i]) >= 0) {
            v = v * 16 + hex_digit(token[i++]);
            ++n;
          }
          out += static_cast<char>(v);
          break;
        }
        default:
          if (c >= '0' && c <= '7') {
            int v = c - '0', n = 1;
            while (n < 3 && i < token.size() && token[i] >= '0' && token[i] <= '7') {
              v = v * 8 + (token[i++] - '0');
              ++n;
            }
            out += static_cast<char>(v);
          } else {
            out += c;  // \" \' \\ \?
          }
      }
    }
    ++i;  // closing quote
  }
  if (!any) return Status::invalid("expected a quoted string (got nothing)");
  return out;
}

std::string quote_text_proto_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f) {
          out += fmt::format("\\{:03o}", c);
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string format_text_proto_float(float v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  std::string s = fmt::format("{}", v);
  if (s.find_first_of(".e") == std::string::npos) s += ".0";
  return s;
}

}  // namespace quench::calib_internal
