// Image folders: PNG / JPEG files written with stb_image_write, read back through the data set.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wall"
#pragma GCC diagnostic ignored "-Wextra"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

#include <gtest/gtest.h>

#include <filesystem>

#include "data/dataset.h"
#include "data/image_folder.h"
#include "data_test_util.h"

namespace quench {
namespace {

using testing::ScratchDir;

// An RGB image whose pixel (x, y) is (base + x, base + 10 * y, base + 100).
std::vector<uint8_t> rgb_pattern(int w, int h, int base) {
  std::vector<uint8_t> px(static_cast<size_t>(w * h * 3));
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &px[static_cast<size_t>((y * w + x) * 3)];
      p[0] = static_cast<uint8_t>(base + x);
      p[1] = static_cast<uint8_t>(base + 10 * y);
      p[2] = static_cast<uint8_t>(base + 100);
    }
  }
  return px;
}

void write_png(const std::string& path, int w, int h, int c, const std::vector<uint8_t>& px) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  ASSERT_NE(stbi_write_png(path.c_str(), w, h, c, px.data(), w * c), 0) << path;
}

std::vector<float> all_data(Dataset& ds, int64_t batch, std::vector<int64_t>* labels) {
  std::vector<float> out;
  labels->clear();
  while (true) {
    Result<std::optional<Batch>> b = ds.next_batch(batch);
    EXPECT_TRUE(b.ok()) << b.status().message();
    if (!b.ok() || !b->has_value()) break;
    const float* p = (*b)->data.data<float>();
    out.insert(out.end(), p, p + (*b)->data.numel());
    if ((*b)->labels) {
      for (int64_t v : (*b)->labels->to_int64_vector()) labels->push_back(v);
    }
  }
  return out;
}

TEST(ImageFolder, ClassFoldersGiveSortedLabelsAndExactPixels) {
  ScratchDir dir;
  write_png(dir.file("dog/b.png"), 3, 2, 3, rgb_pattern(3, 2, 50));
  write_png(dir.file("cat/z.png"), 3, 2, 3, rgb_pattern(3, 2, 0));
  write_png(dir.file("dog/a.PNG"), 3, 2, 3, rgb_pattern(3, 2, 20));
  testing::write_bytes(dir.file("dog/notes.txt"), "ignored");
  DataOptions opt;
  opt.scale = 1.0f;  // raw pixel values
  Result<std::unique_ptr<ImageFolderDataset>> ds = ImageFolderDataset::open(dir.path().string(), opt);
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  EXPECT_EQ((*ds)->class_names(), (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ((*ds)->size(), 3);
  EXPECT_EQ((*ds)->sample_shape(), (Shape{3, 2, 3}));
  std::vector<int64_t> labels;
  std::vector<float> data = all_data(**ds, 2, &labels);
  EXPECT_EQ(labels, (std::vector<int64_t>{0, 1, 1}));
  ASSERT_EQ(data.size(), 3u * 18u);
  const int bases[3] = {0, 20, 50};  // cat/z, dog/a.PNG, dog/b (sorted names)
  for (int n = 0; n < 3; ++n) {
    for (int y = 0; y < 2; ++y) {
      for (int x = 0; x < 3; ++x) {
        const float* s = &data[static_cast<size_t>(n * 18)];
        EXPECT_EQ(s[0 * 6 + y * 3 + x], bases[n] + x);       // R plane
        EXPECT_EQ(s[1 * 6 + y * 3 + x], bases[n] + 10 * y);  // G plane
        EXPECT_EQ(s[2 * 6 + y * 3 + x], bases[n] + 100);     // B plane
      }
    }
  }
}

TEST(ImageFolder, NhwcGreyAndNormalization) {
  ScratchDir dir;
  write_png(dir.file("p.png"), 3, 2, 3, rgb_pattern(3, 2, 7));
  // Grey pixels stored as RGB decode to the same grey value with channels = 1.
  std::vector<uint8_t> grey = {0, 0, 0, 128, 128, 128, 255, 255, 255, 64, 64, 64};
  write_png(dir.file("q.png"), 2, 2, 3, grey);
  DataOptions opt;
  opt.layout = Layout::kNHWC;
  opt.mean = {0.5f, 0.25f, 0.0f};
  opt.std = {0.5f};
  opt.limit = 1;
  Result<std::unique_ptr<Dataset>> ds = open_dataset(dir.path().string(), "", opt);
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  EXPECT_FALSE((*ds)->has_labels());
  EXPECT_EQ((*ds)->size(), 1);
  EXPECT_EQ((*ds)->sample_shape(), (Shape{2, 3, 3}));
  std::vector<int64_t> labels;
  std::vector<float> data = all_data(**ds, 4, &labels);
  ASSERT_EQ(data.size(), 18u);
  std::vector<uint8_t> px = rgb_pattern(3, 2, 7);
  for (size_t i = 0; i < 18; ++i) {
    float expect = (px[i] / 255.0f - opt.mean[i % 3]) / 0.5f;
    EXPECT_NEAR(data[i], expect, 1e-6) << i;
  }

  ScratchDir dir2;
  write_png(dir2.file("q.png"), 2, 2, 3, grey);
  DataOptions g;
  g.channels = 1;
  g.scale = 1.0f;
  ds = open_dataset(dir2.path().string(), "", g);
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  EXPECT_EQ((*ds)->sample_shape(), (Shape{1, 2, 2}));
  data = all_data(**ds, 4, &labels);
  EXPECT_EQ(data, (std::vector<float>{0, 128, 255, 64}));
}

// Bilinear upsampling with half-pixel centers (as torch's align_corners=False): a row [0, 255]
// becomes [0, 63.75, 191.25, 255], rounded to uint8.
TEST(ImageFolder, ResizesBilinear) {
  ScratchDir dir;
  write_png(dir.file("r.png"), 2, 1, 1, {0, 255});
  DataOptions opt;
  opt.channels = 1;
  opt.scale = 1.0f;
  opt.height = 1;
  opt.width = 4;
  Result<std::unique_ptr<Dataset>> ds = open_dataset(dir.path().string(), "", opt);
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  std::vector<int64_t> labels;
  std::vector<float> data = all_data(**ds, 1, &labels);
  ASSERT_EQ(data.size(), 4u);
  const float expect[4] = {0.0f, 63.75f, 191.25f, 255.0f};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(data[static_cast<size_t>(i)], expect[i], 1.0f) << i;
  // A constant image stays constant at any size.
  ScratchDir dir2;
  write_png(dir2.file("c.png"), 5, 3, 3, std::vector<uint8_t>(45, 77));
  opt.channels = 3;
  opt.height = 7;
  opt.width = 2;
  ds = open_dataset(dir2.path().string(), "", opt);
  ASSERT_TRUE(ds.ok());
  data = all_data(**ds, 1, &labels);
  ASSERT_EQ(data.size(), 42u);
  for (float v : data) EXPECT_EQ(v, 77.0f);
}

TEST(ImageFolder, ReadsJpeg) {
  ScratchDir dir;
  std::filesystem::create_directories(dir.file("a"));
  std::vector<uint8_t> px(8 * 8 * 3);
  for (size_t i = 0; i < px.size(); i += 3) {
    px[i] = 200;
    px[i + 1] = 100;
    px[i + 2] = 50;
  }
  ASSERT_NE(stbi_write_jpg(dir.file("a/x.jpg").c_str(), 8, 8, 3, px.data(), 100), 0);
  DataOptions opt;
  opt.scale = 1.0f;
  Result<std::unique_ptr<Dataset>> ds = open_dataset(dir.path().string(), "", opt);
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  std::vector<int64_t> labels;
  std::vector<float> data = all_data(**ds, 1, &labels);
  ASSERT_EQ(data.size(), 192u);
  EXPECT_EQ(labels, std::vector<int64_t>{0});
  for (int i = 0; i < 64; ++i) {
    EXPECT_NEAR(data[static_cast<size_t>(i)], 200, 3) << i;
    EXPECT_NEAR(data[static_cast<size_t>(64 + i)], 100, 3) << i;
    EXPECT_NEAR(data[static_cast<size_t>(128 + i)], 50, 3) << i;
  }
}

TEST(ImageFolder, Errors) {
  ScratchDir dir;
  write_png(dir.file("a.png"), 2, 2, 1, {1, 2, 3, 4});
  write_png(dir.file("b.png"), 3, 2, 1, {1, 2, 3, 4, 5, 6});
  Result<std::unique_ptr<Dataset>> ds = open_dataset(dir.path().string(), "", DataOptions{});
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  Result<std::optional<Batch>> b = (*ds)->next_batch(2);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message(), testing::qp(dir.file("b.png")) +
                                      " is 3x2 (WxH) but the first image is 2x2; give a size "
                                      "(--size HxW) to resize them all");

  testing::write_bytes(dir.file("c/broken.png"), "\x89PNG\r\n\x1a\n garbage");
  ds = open_dataset(dir.path().string(), "", DataOptions{});
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().message(), testing::qp(dir.path().string()) + " mixes images ('" + dir.file("a.png") +
                                       "') with class folders ('c'); put every image in a class "
                                       "folder, or use a flat folder");

  ScratchDir dir2;
  testing::write_bytes(dir2.file("broken.png"), "\x89PNG\r\n\x1a\n garbage");
  DataOptions sized;
  sized.height = sized.width = 4;
  ds = open_dataset(dir2.path().string(), "", sized);
  ASSERT_TRUE(ds.ok()) << ds.status().message();
  b = (*ds)->next_batch(1);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().message().rfind(testing::qp(dir2.file("broken.png")) + ": cannot decode image (", 0), 0u)
      << b.status().message();

  ScratchDir empty;
  ds = open_dataset(empty.path().string(), "", DataOptions{});
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().message(), testing::qp(empty.path().string()) + ": no .png, .jpg or .jpeg images found");
  ds = open_dataset(dir2.path().string(), dir2.file("labels.npy"), DataOptions{});
  ASSERT_FALSE(ds.ok());
  EXPECT_EQ(ds.status().message(), testing::qp(dir2.path().string()) +
                                       " is an image folder: its labels come from its class "
                                       "subfolders, a separate labels file is not accepted");
}

}  // namespace
}  // namespace quench
