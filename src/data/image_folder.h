// quench data: folders of PNG / JPEG images.
//
// Two layouts, as torchvision's ImageFolder reads them:
//   root/cat/001.png, root/dog/002.jpg   class subfolders: label = index of the folder name in the
//                                        sorted list of subfolders
//   root/001.png, root/002.jpg           flat: no labels
// Files are taken in sorted name order; extensions .png, .jpg, .jpeg in any case; other files are
// ignored. Each image is decoded on its own (stb_image) to DataOptions::channels channels (1 = grey,
// 3 = RGB; alpha is dropped), resized to height x width with a bilinear (triangle) filter when they
// are set, and laid out NCHW or NHWC. Values: pixel * scale (default 1/255), then (x - mean) / std
// per channel.
//
//   DataOptions opt;
//   opt.height = opt.width = 224;
//   opt.mean = {0.485f, 0.456f, 0.406f};
//   opt.std = {0.229f, 0.224f, 0.225f};
//   QUENCH_ASSIGN_OR_RETURN(auto ds, open_image_folder("imagenet_val/", opt));
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/status.h"
#include "data/dataset.h"

namespace quench {

class ImageFolderDataset final : public Dataset {
 public:
  static Result<std::unique_ptr<ImageFolderDataset>> open(const std::string& root,
                                                          const DataOptions& options);

  int64_t size() const override;
  Shape sample_shape() const override;
  bool has_labels() const override { return !class_names_.empty(); }
  Result<std::optional<Batch>> next_batch(int64_t max_batch) override;
  Status reset() override;
  std::string describe() const override;

  // Sorted class folder names (empty for a flat folder); label i is class_names()[i].
  const std::vector<std::string>& class_names() const { return class_names_; }
  // Image paths in sample order.
  const std::vector<std::string>& files() const { return files_; }

 private:
  ImageFolderDataset() = default;
  Status decode_into(const std::string& file, uint8_t* dst) const;

  std::string root_;
  DataOptions options_;
  std::vector<std::string> files_;
  std::vector<int64_t> labels_;  // per file, when has_labels()
  std::vector<std::string> class_names_;
  int height_ = 0, width_ = 0;
  int64_t size_ = 0;
  int64_t position_ = 0;
  std::optional<Normalizer> normalizer_;
};

inline Result<std::unique_ptr<Dataset>> open_image_folder(const std::string& root,
                                                          const DataOptions& options) {
  auto r = ImageFolderDataset::open(root, options);
  if (!r.ok()) return r.status();
  return std::unique_ptr<Dataset>(std::move(r).value());
}

}  // namespace quench
