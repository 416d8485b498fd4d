#include "data/image_folder.h"

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>
#include <system_error>

#include "data/file_util.h"

namespace quench {

using data_internal::quote_path;
namespace fs = std::filesystem;

namespace {

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".png" || ext == ".jpg" || ext == ".jpeg";
}

// Sorted image files and sorted subfolders directly inside `dir`.
Status list_dir(const fs::path& dir, std::vector<std::string>* images, std::vector<std::string>* subdirs) {
  std::error_code ec;
  fs::directory_iterator it(dir, ec);
  if (ec) return Status::io_error(quote_path(dir.string()) + ": cannot list folder (" + ec.message() + ")");
  for (const fs::directory_entry& e : it) {
    if (e.is_directory(ec)) {
      if (subdirs) subdirs->push_back(e.path().filename().string());
    } else if (e.is_regular_file(ec) && is_image_file(e.path())) {
      images->push_back(e.path().string());
    }
  }
  std::sort(images->begin(), images->end());
  if (subdirs) std::sort(subdirs->begin(), subdirs->end());
  return Status();
}

struct StbiFree {
  void operator()(unsigned char* p) const { stbi_image_free(p); }
};

}  // namespace

Result<std::unique_ptr<ImageFolderDataset>> ImageFolderDataset::open(const std::string& root,
                                                                     const DataOptions& options) {
  const std::string place = quote_path(root);
  std::error_code ec;
  if (!fs::exists(root, ec)) return Status::not_found(place + ": no such folder");
  if (!fs::is_directory(root, ec)) return Status::invalid(place + " is not a folder");
  if (options.channels != 1 && options.channels != 3) {
    return Status::invalid("image channels must be 1 or 3 (got " + std::to_string(options.channels) + ")");
  }
  if (options.height < 0 || options.width < 0 || (options.height == 0) != (options.width == 0)) {
    return Status::invalid("image size must be two positive numbers HxW (got " +
                           std::to_string(options.height) + "x" + std::to_string(options.width) + ")");
  }
  std::unique_ptr<ImageFolderDataset> ds(new ImageFolderDataset());
  ds->root_ = root;
  ds->options_ = options;
  std::vector<std::string> top_images, subdirs;
  QUENCH_RETURN_IF_ERROR(list_dir(root, &top_images, &subdirs));
  if (!subdirs.empty()) {
    if (!top_images.empty()) {
      return Status::invalid(place + " mixes images (" + quote_path(top_images.front()) +
                             ") with class folders (" + quote_path(subdirs.front()) +
                             "); put every image in a class folder, or use a flat folder");
    }
    ds->class_names_ = subdirs;
    for (size_t c = 0; c < subdirs.size(); ++c) {
      std::vector<std::string> images;
      QUENCH_RETURN_IF_ERROR(list_dir(fs::path(root) / subdirs[c], &images, nullptr));
      for (std::string& f : images) {
        ds->files_.push_back(std::move(f));
        ds->labels_.push_back(static_cast<int64_t>(c));
      }
    }
  } else {
    ds->files_ = std::move(top_images);
  }
  if (ds->files_.empty()) {
    return Status::invalid(place + ": no .png, .jpg or .jpeg images found" +
                           (subdirs.empty() ? "" : " in its class folders"));
  }
  if (options.height > 0) {
    ds->height_ = options.height;
    ds->width_ = options.width;
  } else {
    int w = 0, h = 0, c = 0;
    if (!stbi_info(ds->files_.front().c_str(), &w, &h, &c)) {
      return Status::invalid(quote_path(ds->files_.front()) + ": cannot decode image (" +
                             stbi_failure_reason() + ")");
    }
    ds->height_ = h;
    ds->width_ = w;
  }
  ds->size_ = static_cast<int64_t>(ds->files_.size());
  if (options.limit > 0) ds->size_ = std::min(ds->size_, options.limit);
  auto normalizer = Normalizer::create(options, DType::kUInt8, ds->sample_shape(), place);
  if (!normalizer.ok()) return normalizer.status();
  ds->normalizer_ = std::move(normalizer).value();
  return ds;
}

int64_t ImageFolderDataset::size() const { return size_; }

Shape ImageFolderDataset::sample_shape() const {
  int64_t c = options_.channels;
  if (options_.layout == Layout::kNCHW) return {c, height_, width_};
  return {height_, width_, c};
}

Status ImageFolderDataset::reset() {
  position_ = 0;
  return Status();
}

std::string ImageFolderDataset::describe() const {
  std::string s = "image folder " + quote_path(root_) + " (" + std::to_string(size_) + " images";
  if (!class_names_.empty()) s += ", " + std::to_string(class_names_.size()) + " classes";
  return s + ", " + std::to_string(height_) + "x" + std::to_string(width_) + "x" +
         std::to_string(options_.channels) + " " + std::string(layout_name(options_.layout)) + ")";
}

// Decodes one image to channels x height x width uint8 in the dataset's layout.
Status ImageFolderDataset::decode_into(const std::string& file, uint8_t* dst) const {
  const int c = options_.channels;
  int w = 0, h = 0, file_channels = 0;
  std::unique_ptr<unsigned char, StbiFree> px(stbi_load(file.c_str(), &w, &h, &file_channels, c));
  if (!px) return Status::invalid(quote_path(file) + ": cannot decode image (" + stbi_failure_reason() + ")");
  const unsigned char* src = px.get();
  std::unique_ptr<unsigned char[]> resized;
  if (w != width_ || h != height_) {
    if (options_.height == 0) {
      return Status::invalid(quote_path(file) + " is " + std::to_string(w) + "x" + std::to_string(h) +
                             " (WxH) but the first image is " + std::to_string(width_) + "x" +
                             std::to_string(height_) + "; give a size (--size HxW) to resize them all");
    }
    resized.reset(new unsigned char[static_cast<size_t>(width_) * height_ * c]);
    int ok = stbir_resize_uint8_generic(src, w, h, 0, resized.get(), width_, height_, 0, c,
                                        STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
                                        STBIR_FILTER_TRIANGLE, STBIR_COLORSPACE_LINEAR, nullptr);
    if (!ok) return Status::internal(quote_path(file) + ": resize failed");
    src = resized.get();
  }
  const int64_t plane = static_cast<int64_t>(width_) * height_;
  if (options_.layout == Layout::kNHWC || c == 1) {
    std::copy(src, src + plane * c, dst);
  } else {
    for (int64_t i = 0; i < plane; ++i) {
      for (int ch = 0; ch < c; ++ch) dst[ch * plane + i] = src[i * c + ch];
    }
  }
  return Status();
}

Result<std::optional<Batch>> ImageFolderDataset::next_batch(int64_t max_batch) {
  if (max_batch < 1) return Status::invalid("batch size must be at least 1 (got " + std::to_string(max_batch) + ")");
  if (position_ >= size_) return std::optional<Batch>();
  int64_t n = std::min(max_batch, size_ - position_);
  Shape shape = sample_shape();
  shape.insert(shape.begin(), n);
  Tensor raw = Tensor::empty(DType::kUInt8, shape);
  const int64_t sample = shape_numel(sample_shape());
  Batch batch;
  Tensor labels;
  if (has_labels()) labels = Tensor::empty(DType::kInt64, {n});
  for (int64_t i = 0; i < n; ++i) {
    size_t f = static_cast<size_t>(position_ + i);
    QUENCH_RETURN_IF_ERROR(decode_into(files_[f], raw.data<uint8_t>() + i * sample));
    if (has_labels()) labels.data<int64_t>()[i] = labels_[f];
  }
  QUENCH_ASSIGN_OR_RETURN(batch.data, normalizer_->apply(raw));
  if (has_labels()) batch.labels = labels;
  position_ += n;
  return std::optional<Batch>(std::move(batch));
}

}  // namespace quench
