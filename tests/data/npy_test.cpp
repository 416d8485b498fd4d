// .npy reading and writing against files numpy writes and reads.
#include <gtest/gtest.h>

#include <cmath>

#include "data/npy.h"
#include "data_test_util.h"

namespace quench {
namespace {

using testing::run_python;
using testing::ScratchDir;
using testing::write_bytes;

// numpy writes arange(24).reshape(2,3,4) in each dtype (bool: arange % 3 == 0).
TEST(Npy, ReadsEveryDtypeNumpyWrites) {
  ScratchDir dir;
  ASSERT_EQ(run_python(dir, "import numpy as np\n"
                            "a = np.arange(24).reshape(2, 3, 4)\n"
                            "for t in ['float16','float32','float64','int8','int16','int32','int64',"
                            "'uint8','uint16','uint32','uint64']:\n"
                            "    np.save('" + dir.file("") + "' + t + '.npy', a.astype(t))\n"
                            "np.save('" + dir.file("bool.npy") + "', a % 3 == 0)\n"),
            0);
  const std::pair<const char*, DType> cases[] = {
      {"float16", DType::kFloat16}, {"float32", DType::kFloat32}, {"float64", DType::kFloat64},
      {"int8", DType::kInt8},       {"int16", DType::kInt16},     {"int32", DType::kInt32},
      {"int64", DType::kInt64},     {"uint8", DType::kUInt8},     {"uint16", DType::kUInt16},
      {"uint32", DType::kUInt32},   {"uint64", DType::kUInt64},
  };
  for (auto [name, dtype] : cases) {
    Result<Tensor> t = read_npy(dir.file(std::string(name) + ".npy"));
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ(t->dtype(), dtype) << name;
    EXPECT_EQ(t->shape(), (Shape{2, 3, 4})) << name;
    std::vector<double> v = t->to_double_vector();
    ASSERT_EQ(v.size(), 24u);
    for (int i = 0; i < 24; ++i) EXPECT_EQ(v[static_cast<size_t>(i)], i) << name << " at " << i;
  }
  Result<Tensor> b = read_npy(dir.file("bool.npy"));
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->dtype(), DType::kBool);
  std::vector<int64_t> bv = b->to_int64_vector();
  for (int i = 0; i < 24; ++i) EXPECT_EQ(bv[static_cast<size_t>(i)], i % 3 == 0 ? 1 : 0) << i;
}

TEST(Npy, ReadsFormatVersions2And3AndScalars) {
  ScratchDir dir;
  ASSERT_EQ(run_python(dir, "import numpy as np\n"
                            "a = (np.arange(6, dtype=np.float32) * 0.5).reshape(3, 2)\n"
                            "for v in [(1, 0), (2, 0), (3, 0)]:\n"
                            "    with open('" + dir.file("") + "v%d.npy' % v[0], 'wb') as f:\n"
                            "        np.lib.format.write_array(f, a, version=v)\n"
                            "np.save('" + dir.file("scalar.npy") + "', np.float64(2.5))\n"
                            "np.save('" + dir.file("empty.npy") + "', np.zeros((0, 4), np.int32))\n"),
            0);
  for (int v = 1; v <= 3; ++v) {
    std::string path = dir.file(std::string("v") + std::to_string(v) + ".npy");
    Result<Tensor> t = read_npy(path);
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ(t->shape(), (Shape{3, 2}));
    EXPECT_EQ(t->to_double_vector(), (std::vector<double>{0, 0.5, 1, 1.5, 2, 2.5})) << "version " << v;
    std::string bytes = testing::read_bytes(path);
    Result<NpyHeader> h = parse_npy_header(bytes, path);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->major_version, v);
  }
  Result<Tensor> s = read_npy(dir.file("scalar.npy"));
  ASSERT_TRUE(s.ok()) << s.status().message();
  EXPECT_EQ(s->shape(), Shape{});
  EXPECT_EQ(s->to_double_vector(), std::vector<double>{2.5});
  Result<Tensor> e = read_npy(dir.file("empty.npy"));
  ASSERT_TRUE(e.ok()) << e.status().message();
  EXPECT_EQ(e->shape(), (Shape{0, 4}));

  Result<std::unique_ptr<ArrayReader>> r = open_npy_reader(dir.file("scalar.npy"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), testing::qp(dir.file("scalar.npy")) +
                                      ": a scalar (shape ()) has no samples; the first axis is the "
                                      "sample axis");
}

// A header written by hand: Python 2 style 'L' suffixes, double quotes, no trailing comma.
TEST(Npy, ParsesHandWrittenHeader) {
  ScratchDir dir;
  std::string dict = "{\"shape\": (2L, 1L), \"fortran_order\": False, \"descr\": \"<i4\"}";
  dict += std::string(128 - 10 - dict.size() - 1, ' ') + "\n";
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(dict.size());
  bytes += '\0';
  bytes += dict;
  const int32_t values[2] = {-7, 123456};
  bytes.append(reinterpret_cast<const char*>(values), sizeof(values));
  write_bytes(dir.file("hand.npy"), bytes);
  Result<Tensor> t = read_npy(dir.file("hand.npy"));
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->dtype(), DType::kInt32);
  EXPECT_EQ(t->shape(), (Shape{2, 1}));
  EXPECT_EQ(t->to_int64_vector(), (std::vector<int64_t>{-7, 123456}));
}

TEST(Npy, RejectsFortranOrderBigEndianAndStructured) {
  ScratchDir dir;
  ASSERT_EQ(run_python(dir, "import numpy as np\n"
                            "a = np.arange(6, dtype=np.float32).reshape(2, 3)\n"
                            "np.save('" + dir.file("f.npy") + "', np.asfortranarray(a))\n"
                            "np.save('" + dir.file("be.npy") + "', a.astype('>f4'))\n"
                            "np.save('" + dir.file("st.npy") + "', np.zeros(3, dtype=[('x', '<f4'), ('y', '<i4')]))\n"),
            0);
  Result<Tensor> f = read_npy(dir.file("f.npy"));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.status().code(), StatusCode::kUnsupported);
  EXPECT_EQ(f.status().message(), testing::qp(dir.file("f.npy")) +
                                      ": Fortran-order arrays are not supported; save a C-order "
                                      "array (np.save(path, np.ascontiguousarray(a)))");
  Result<Tensor> be = read_npy(dir.file("be.npy"));
  ASSERT_FALSE(be.ok());
  EXPECT_EQ(be.status().message(), testing::qp(dir.file("be.npy")) +
                                       ": big-endian data ('>f4') is not supported; save it "
                                       "little-endian (arr.astype('<f4'))");
  Result<Tensor> st = read_npy(dir.file("st.npy"));
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(st.status().message().find("structured dtypes"), std::string::npos) << st.status().message();
}

TEST(Npy, TruncatedAndForeignFilesGiveClearErrors) {
  ScratchDir dir;
  Tensor t = Tensor::from_vector<float>({2, 3, 4}, std::vector<float>(24, 1.0f));
  ASSERT_TRUE(write_npy(dir.file("full.npy"), t).ok());
  std::string bytes = testing::read_bytes(dir.file("full.npy"));
  ASSERT_EQ(bytes.size(), 128u + 96u);  // the header is padded to 64 bytes
  write_bytes(dir.file("cut.npy"), bytes.substr(0, 128 + 50));
  Result<Tensor> r = read_npy(dir.file("cut.npy"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), testing::qp(dir.file("cut.npy")) +
                                      ": truncated: expected 96 bytes of data (float32[2, 3, 4]) "
                                      "after the 128-byte header, the file has 50");
  write_bytes(dir.file("head.npy"), bytes.substr(0, 40));
  r = read_npy(dir.file("head.npy"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), testing::qp(dir.file("head.npy")) +
                                      ": truncated: the header says it is 128 bytes long but the "
                                      "file has 40 bytes");
  write_bytes(dir.file("text.npy"), "hello, world\n");
  r = read_npy(dir.file("text.npy"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            testing::qp(dir.file("text.npy")) + ": not a .npy file (it does not start with \\x93NUMPY)");
  r = read_npy(dir.file("missing.npy"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(), testing::qp(dir.file("missing.npy")) + ": no such file");
  // A header whose dict is garbage.
  std::string bad = bytes;
  bad.replace(10, 8, "{'descr'");
  bad[18] = '#';
  write_bytes(dir.file("bad.npy"), bad);
  r = read_npy(dir.file("bad.npy"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("bad .npy header: expected ':' after key 'descr'"),
            std::string::npos)
      << r.status().message();
}

// Files quench writes load in numpy with the same dtype, shape and values.
TEST(Npy, WrittenFilesLoadInNumpy) {
  ScratchDir dir;
  ASSERT_TRUE(write_npy(dir.file("f32.npy"),
                        Tensor::from_vector<float>({2, 3}, {0.5f, -1.0f, 2.25f, 3.0f, 1e-3f, -7.5f}))
                  .ok());
  ASSERT_TRUE(write_npy(dir.file("i64.npy"), Tensor::from_vector<int64_t>({3}, {-1, 0, 1LL << 40})).ok());
  ASSERT_TRUE(write_npy(dir.file("u8.npy"), Tensor::from_vector<uint8_t>({1, 2, 2}, {0, 1, 254, 255})).ok());
  Tensor bools = Tensor::empty(DType::kBool, {2});
  bools.data<bool>()[0] = true;
  bools.data<bool>()[1] = false;
  ASSERT_TRUE(write_npy(dir.file("b.npy"), bools).ok());
  ASSERT_TRUE(write_npy(dir.file("s.npy"), Tensor::scalar<double>(3.25)).ok());
  // A 10-dimensional shape with big dims makes a longer header; still a multiple of 64 bytes.
  ASSERT_TRUE(write_npy(dir.file("wide.npy"), Tensor::zeros(DType::kInt8, {1, 1, 1, 1, 1, 1, 1, 1, 1, 100000})).ok());
  ASSERT_EQ(run_python(dir, "import numpy as np\n"
                            "d = '" + dir.file("") + "'\n"
                            "a = np.load(d + 'f32.npy')\n"
                            "assert a.dtype == np.float32 and a.shape == (2, 3), a\n"
                            "assert (a == np.array([[0.5, -1, 2.25], [3, 1e-3, -7.5]], np.float32)).all()\n"
                            "a = np.load(d + 'i64.npy')\n"
                            "assert a.dtype == np.int64 and list(a) == [-1, 0, 1 << 40]\n"
                            "a = np.load(d + 'u8.npy')\n"
                            "assert a.dtype == np.uint8 and a.shape == (1, 2, 2) and a.ravel().tolist() == [0, 1, 254, 255]\n"
                            "a = np.load(d + 'b.npy')\n"
                            "assert a.dtype == np.bool_ and a.tolist() == [True, False]\n"
                            "a = np.load(d + 's.npy')\n"
                            "assert a.dtype == np.float64 and a.shape == () and a == 3.25\n"
                            "a = np.load(d + 'wide.npy')\n"
                            "assert a.shape == (1,) * 9 + (100000,) and a.dtype == np.int8\n"
                            "for n in ['f32', 'wide']:\n"
                            "    with open(d + n + '.npy', 'rb') as f:\n"
                            "        f.read(8); hl = int.from_bytes(f.read(2), 'little')\n"
                            "        assert (10 + hl) % 64 == 0, hl\n"),
            0);
  // Round trip through our own reader too.
  Result<Tensor> back = read_npy(dir.file("f32.npy"));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->to_double_vector(), (std::vector<double>{0.5, -1.0, 2.25, 3.0, static_cast<float>(1e-3), -7.5}));
}

TEST(Npy, RowReaderReadsRowRanges) {
  ScratchDir dir;
  ASSERT_EQ(run_python(dir, "import numpy as np\n"
                            "np.save('" + dir.file("x.npy") + "', np.arange(50 * 6, dtype=np.int32).reshape(50, 2, 3))\n"),
            0);
  Result<std::unique_ptr<ArrayReader>> r = open_npy_reader(dir.file("x.npy"));
  ASSERT_TRUE(r.ok()) << r.status().message();
  ArrayReader& reader = **r;
  EXPECT_EQ(reader.num_rows(), 50);
  EXPECT_EQ(reader.row_shape(), (Shape{2, 3}));
  std::vector<int64_t> all;
  while (reader.remaining() > 0) {
    Result<Tensor> rows = reader.read_rows(std::min<int64_t>(7, reader.remaining()));
    ASSERT_TRUE(rows.ok()) << rows.status().message();
    EXPECT_EQ(rows->dim(1), 2);
    for (int64_t v : rows->to_int64_vector()) all.push_back(v);
  }
  ASSERT_EQ(all.size(), 300u);
  for (size_t i = 0; i < all.size(); ++i) ASSERT_EQ(all[i], static_cast<int64_t>(i));
  ASSERT_TRUE(reader.rewind().ok());
  Result<Tensor> first = reader.read_rows(1);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->to_int64_vector(), (std::vector<int64_t>{0, 1, 2, 3, 4, 5}));
}

}  // namespace
}  // namespace quench
