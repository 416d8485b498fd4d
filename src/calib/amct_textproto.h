// quench calib (internal): the protobuf text format, enough of it to edit AMCT record files.
//
// A file is parsed into a tree of fields that keeps every scalar token as written, so a file can
// be read, one entry changed, and written back without losing or reformatting the values of
// fields quench does not know (AMCT records may hold `value { scale_d: ... }` entries, prune
// records...). Supported: `name: scalar`, `name { ... }` / `name: { ... }` / `name < ... >`,
// lists `name: [a, b]` (kept as repeated fields), strings in '' or "" with C escapes (adjacent
// strings concatenate), `#` comments, optional `,` / `;` separators.
//
//   QUENCH_ASSIGN_OR_RETURN(auto fields, parse_text_proto(text));
//   fields.push_back(text_proto_message("record", {text_proto_scalar("key", quote(...))}));
//   std::string out = print_text_proto(fields);
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace quench::calib_internal {

struct TextProtoField {
  std::string name;
  bool is_message = false;
  std::string value;                   // scalar token as written (strings keep their quotes)
  std::vector<TextProtoField> fields;  // the message's fields, in order
  int line = 0;                        // where the field starts, for messages
};

// Errors are kInvalid: "line 3: expected '}' to close \"record\" (got end of file)".
Result<std::vector<TextProtoField>> parse_text_proto(std::string_view text);
// Two spaces of indent per level, one field per line (as protobuf's text_format prints).
std::string print_text_proto(const std::vector<TextProtoField>& fields);

TextProtoField text_proto_scalar(std::string name, std::string value);
TextProtoField text_proto_message(std::string name, std::vector<TextProtoField> fields);

// A string literal's bytes (one or more adjacent quoted strings, C escapes including octal and
// hex). kInvalid when the token is not a string.
Result<std::string> unquote_text_proto_string(std::string_view token);
// "..." with \" \\ \n \r \t escaped and other bytes outside printable ASCII as octal \ooo (as
// protobuf's CEscape, so non-ASCII layer names round-trip byte for byte).
std::string quote_text_proto_string(std::string_view s);
// The shortest decimal that reads back as the same float, with ".0" on integers ("1.0", "0.0123",
// "1e-05"), as protobuf's Python text_format prints float fields.
std::string format_text_proto_float(float v);

}  // namespace quench::calib_internal
