// IDX reading: hand-made files (plain and gzipped with zlib), errors, and the real Fashion-MNIST.
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>

#include "data/idx.h"
#include "data_test_util.h"

namespace quench {
namespace {

using testing::ScratchDir;
using testing::write_bytes;

std::string be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string idx_header(uint8_t type, std::vector<uint32_t> dims) {
  std::string h = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) h += be32(d);
  return h;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
  ASSERT_EQ(gzclose(f), Z_OK);
}

// uint8 [3, 2, 2] with values 0..11, 10*i+j pattern not needed: the index itself.
std::string small_u8_file() {
  std::string s = idx_header(0x08, {3, 2, 2});
  for (int i = 0; i < 12; ++i) s += static_cast<char>(i * 20);
  return s;
}

TEST(Idx, ReadsPlainAndGzippedUint8) {
  ScratchDir dir;
  write_bytes(dir.file("plain-idx3-ubyte"), small_u8_file());
  write_gz(dir.file("gz-idx3-ubyte.gz"), small_u8_file());
  // The gzip magic decides, not the name.
  write_gz(dir.file("gz-without-suffix"), small_u8_file());
  std::vector<int64_t> expected;
  for (int i = 0; i < 12; ++i) expected.push_back(i * 20);
  for (const char* name : {"plain-idx3-ubyte", "gz-idx3-ubyte.gz", "gz-without-suffix"}) {
    Result<Tensor> t = read_idx(dir.file(name));
    ASSERT_TRUE(t.ok()) << name << ": " << t.status().message();
    EXPECT_EQ(t->dtype(), DType::kUInt8);
    EXPECT_EQ(t->shape(), (Shape{3, 2, 2}));
    EXPECT_EQ(t->to_int64_vector(), expected) << name;
  }
}

TEST(Idx, ConvertsBigEndianElements) {
  ScratchDir dir;
  std::string i32 = idx_header(0x0C, {3}) + be32(1) + be32(0xFFFFFFFEu) + be32(0x01020304);
  write_bytes(dir.file("i32"), i32);
  Result<Tensor> t = read_idx(dir.file("i32"));
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->dtype(), DType::kInt32);
  EXPECT_EQ(t->to_int64_vector(), (std::vector<int64_t>{1, -2, 0x01020304}));
  // float32 1.5 = 0x3FC00000, -0.25 = 0xBE800000
  std::string f32 = idx_header(0x0D, {1, 2}) + be32(0x3FC00000) + be32(0xBE800000);
  write_gz(dir.file("f32.gz"), f32);
  t = read_idx(dir.file("f32.gz"));
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->dtype(), DType::kFloat32);
  EXPECT_EQ(t->to_double_vector(), (std::vector<double>{1.5, -0.25}));
  std::string i16 = idx_header(0x0B, {2}) + std::string("\xff\xfe\x01\x00", 4);
  write_bytes(dir.file("i16"), i16);
  t = read_idx(dir.file("i16"));
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->to_int64_vector(), (std::vector<int64_t>{-2, 256}));
}

TEST(Idx, StreamsRowsAndRewinds) {
  ScratchDir dir;
  std::string s = idx_header(0x08, {100, 3});
  for (int i = 0; i < 300; ++i) s += static_cast<char>(i % 251);
  write_gz(dir.file("rows.gz"), s);
  Result<std::unique_ptr<ArrayReader>> r = open_idx_reader(dir.file("rows.gz"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ArrayReader& reader = **r;
  EXPECT_EQ(reader.num_rows(), 100);
  std::vector<int64_t> all;
  for (int pass = 0; pass < 2; ++pass) {
    all.clear();
    while (reader.remaining() > 0) {
      Result<Tensor> rows = reader.read_rows(std::min<int64_t>(33, reader.remaining()));
      ASSERT_TRUE(rows.ok()) << rows.status().message();
      for (int64_t v : rows->to_int64_vector()) all.push_back(v);
    }
    ASSERT_EQ(all.size(), 300u);
    for (int i = 0; i < 300; ++i) ASSERT_EQ(all[static_cast<size_t>(i)], i % 251) << "pass " << pass;
    ASSERT_TRUE(reader.rewind().ok());
    EXPECT_EQ(reader.position(), 0);
  }
}

TEST(Idx, TruncatedPlainFileNamesExpectedAndActualBytes) {
  ScratchDir dir;
  write_bytes(dir.file("cut"), small_u8_file().substr(0, 20));
  Result<Tensor> t = read_idx(dir.file("cut"));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), testing::qp(dir.file("cut")) +
                                      ": truncated: expected 28 bytes (16-byte header + 3 x 2 x 2 "
                                      "uint8), got 20");
  write_bytes(dir.file("cut-header"), small_u8_file().substr(0, 9));
  t = read_idx(dir.file("cut-header"));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), testing::qp(dir.file("cut-header")) +
                                      ": truncated: the header declares 3 dimensions (16 bytes) but "
                                      "the file ends after 9");
}

TEST(Idx, TruncatedGzipFails) {
  ScratchDir dir;
  // Incompressible-ish data so that the cut lands inside the deflate stream.
  std::string s = idx_header(0x08, {100, 28, 28});
  uint32_t x = 12345;
  for (int i = 0; i < 100 * 28 * 28; ++i) {
    x = x * 1103515245u + 12345u;
    s += static_cast<char>(x >> 24);
  }
  write_gz(dir.file("full.gz"), s);
  std::string gz = testing::read_bytes(dir.file("full.gz"));
  write_bytes(dir.file("cut.gz"), gz.substr(0, gz.size() * 6 / 10));
  Result<Tensor> t = read_idx(dir.file("cut.gz"));
  ASSERT_FALSE(t.ok());
  const std::string prefix = testing::qp(dir.file("cut.gz")) +
                             ": truncated: expected 78416 bytes after decompression (16-byte header "
                             "+ 100 x 28 x 28 uint8), got ";
  EXPECT_EQ(t.status().message().substr(0, prefix.size()), prefix) << t.status().message();
  // Garbage after a valid gzip header is corrupt data, not a crash.
  std::string corrupt = gz;
  for (size_t i = 20; i < corrupt.size() - 8; i += 7) corrupt[i] = static_cast<char>(corrupt[i] ^ 0x5a);
  write_bytes(dir.file("corrupt.gz"), corrupt);
  t = read_idx(dir.file("corrupt.gz"));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalid) << t.status().message();
}

// A corrupt gzipped header declaring a row of 2^62 bytes fails with a message, not an exception.
TEST(Idx, HugeDeclaredShapeIsAnError) {
  ScratchDir dir;
  write_gz(dir.file("huge.gz"), idx_header(0x08, {1, 1u << 31, 1u << 31}) + "abc");
  Result<Tensor> t = read_idx(dir.file("huge.gz"));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), testing::qp(dir.file("huge.gz")) +
                                      ": cannot allocate 4611686018427387904 bytes for "
                                      "uint8[1, 2147483648, 2147483648] (does the file declare the "
                                      "right shape?)");
}

TEST(Idx, RejectsForeignFiles) {
  ScratchDir dir;
  write_bytes(dir.file("text"), "hello world");
  Result<Tensor> t = read_idx(dir.file("text"));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(),
            testing::qp(dir.file("text")) + ": not an IDX file: magic bytes 68 65 6c 6c do not start with 00 00");
  write_bytes(dir.file("type"), std::string("\0\0\x42\x01", 4) + be32(1) + "x");
  t = read_idx(dir.file("type"));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), testing::qp(dir.file("type")) +
                                      ": not an IDX file: element type 0x42 is none of 0x08 (uint8), "
                                      "0x09 (int8), 0x0B (int16), 0x0C (int32), 0x0D (float32), 0x0E "
                                      "(float64)");
  t = read_idx(dir.file("nope"));
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kNotFound);
}

// The real Fashion-MNIST test set (Debian package dataset-fashion-mnist); numbers from numpy.
TEST(Idx, FashionMnistTestSet) {
  const std::string root = "/usr/share/datasets/fashion-mnist/";
  if (!std::filesystem::exists(root + "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "no Fashion-MNIST";
  Result<std::unique_ptr<ArrayReader>> images = open_idx_reader(root + "t10k-images-idx3-ubyte.gz");
  ASSERT_TRUE(images.ok()) << images.status().message();
  EXPECT_EQ((*images)->shape(), (Shape{10000, 28, 28}));
  EXPECT_EQ((*images)->dtype(), DType::kUInt8);
  int64_t sum = 0, first = 0, last = 0;
  while ((*images)->remaining() > 0) {
    Result<Tensor> rows = (*images)->read_rows(std::min<int64_t>(1000, (*images)->remaining()));
    ASSERT_TRUE(rows.ok()) << rows.status().message();
    const uint8_t* p = rows->data<uint8_t>();
    for (int64_t i = 0; i < rows->numel(); ++i) sum += p[i];
    if (first == 0) {
      for (int i = 0; i < 784; ++i) first += p[i];
    }
    if ((*images)->remaining() == 0) {
      for (int64_t i = rows->numel() - 784; i < rows->numel(); ++i) last += p[i];
    }
  }
  EXPECT_EQ(sum, 573469082);
  EXPECT_EQ(first, 33456);
  EXPECT_EQ(last, 24390);
  Result<Tensor> labels = read_idx(root + "t10k-labels-idx1-ubyte.gz");
  ASSERT_TRUE(labels.ok()) << labels.status().message();
  std::vector<int64_t> l = labels->to_int64_vector();
  ASSERT_EQ(l.size(), 10000u);
  EXPECT_EQ(std::vector<int64_t>(l.begin(), l.begin() + 12),
            (std::vector<int64_t>{9, 2, 1, 1, 6, 1, 4, 6, 5, 7, 4, 5}));
}

}  // namespace
}  // namespace quench
