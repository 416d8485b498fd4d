// quench IR: Model, Graph, Node, Value.
//
// The IR mirrors ONNX closely enough that import -> export is lossless (every node, attribute and
// weight bit), and is plain C++ so that nothing outside src/onnx sees protobuf.
//
//   Graph   owns its Values and Nodes. nodes() is kept in topological order (producers before
//           consumers); passes that insert nodes call topological_sort() afterwards.
//   Value   a named edge: a graph input, an initializer (constant() defined), a node output or a
//           graph output. dtype and shape come from the model (inputs, outputs, value_info) and may
//           be unknown (DType::kUndefined, has_shape false). A dimension is either a number (>= 0)
//           or a symbol ("batch"); value -1 with an empty symbol means unknown.
//   Node    op_type + domain (empty = default ONNX domain) + ordered attributes; inputs may hold
//           nullptr for an omitted optional input ("" in ONNX).
//   Model   the graph plus ir_version, opset imports and metadata.
//
//   Result<Model> m = onnx::load_model("model.onnx");
//   for (const Node* n : m->graph.nodes()) fmt::print("{} {}\n", n->op_type, n->name);
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/tensor.h"

namespace quench {

class Graph;
struct Node;

struct Dim {
  int64_t value = -1;  // >= 0 when known
  std::string symbol;  // dim_param when symbolic
  bool known() const { return value >= 0; }
};

struct Value {
  std::string name;
  DType dtype = DType::kUndefined;
  bool has_shape = false;  // false: rank unknown
  std::vector<Dim> shape;
  std::string doc_string;
  Tensor constant;         // defined for initializers (and folded constants)
  Node* producer = nullptr;  // null for graph inputs and initializers
  std::vector<Node*> consumers;  // maintained by Graph (a node appears once per input slot)

  bool is_constant() const { return constant.defined(); }
  // Concrete shape when every dimension is known.
  std::optional<Shape> static_shape() const;
};

enum class AttrType {
  kUndefined = 0, kFloat = 1, kInt = 2, kString = 3, kTensor = 4, kGraph = 5,
  kFloats = 6, kInts = 7, kStrings = 8, kTensors = 9, kGraphs = 10,
  kSparseTensor = 11, kSparseTensors = 12, kTypeProto = 13, kTypeProtos = 14,
};

struct Attribute {
  std::string name;
  AttrType type = AttrType::kUndefined;
  float f = 0.0f;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::shared_ptr<Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<Tensor> tensors;
  std::vector<std::shared_ptr<Graph>> graphs;
  std::string ref_attr_name;  // inside functions
  std::string doc_string;
  // Serialized form of parts quench does not model (sparse tensors, type protos), kept for export.
  std::string opaque;
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;  // "" == "ai.onnx"
  std::vector<Value*> inputs;   // nullptr for an omitted optional input
  std::vector<Value*> outputs;  // nullptr for an omitted optional output
  std::vector<Attribute> attributes;  // in file order
  std::string doc_string;

  const Attribute* attr(std::string_view n) const;
  bool has_attr(std::string_view n) const { return attr(n) != nullptr; }
  int64_t attr_int(std::string_view n, int64_t dflt) const;
  float attr_float(std::string_view n, float dflt) const;
  std::string attr_string(std::string_view n, const std::string& dflt) const;
  std::vector<int64_t> attr_ints(std::string_view n, std::vector<int64_t> dflt = {}) const;
  std::vector<float> attr_floats(std::string_view n, std::vector<float> dflt = {}) const;
  std::vector<std::string> attr_strings(std::string_view n, std::vector<std::string> dflt = {}) const;
  // The number of leading inputs actually given (trailing nullptrs dropped).
  size_t num_inputs() const;
  const Value* input(size_t i) const { return i < inputs.size() ? inputs[i] : nullptr; }
  // "Conv 'conv1'" (or "Conv #12" when unnamed), for messages.
  std::string label() const;
};

class Graph {
 public:
  Graph() = default;
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  std::string name;
  std::string doc_string;

  // Values. add_value fails if the name exists; get_or_add_value returns the existing one.
  Result<Value*> add_value(const std::string& name);
  Value* get_or_add_value(const std::string& name);
  Value* find_value(std::string_view name);
  const Value* find_value(std::string_view name) const;
  const std::vector<std::unique_ptr<Value>>& values() const { return values_; }

  // Nodes, in topological order once topological_sort() has run (import does).
  Node* add_node(std::string op_type, std::string name, std::vector<Value*> inputs,
                 std::vector<Value*> outputs, std::string domain = "");
  void remove_node(Node* node);  // detaches it from its values
  const std::vector<std::unique_ptr<Node>>& node_list() const { return nodes_; }
  std::vector<Node*> nodes() const;
  size_t num_nodes() const { return nodes_.size(); }

  // Graph inputs (including, in old models, initializers that are also listed as inputs),
  // outputs, and initializers in file order.
  std::vector<Value*> inputs;
  std::vector<Value*> outputs;
  std::vector<Value*> initializers;
  std::vector<Value*> value_infos;  // values with a value_info entry, in file order

  // Rebuilds producer / consumer links from the node list.
  void rebuild_links();
  // Orders nodes so that producers come before consumers (stable for already-sorted graphs).
  // Fails with the node names on a cycle.
  Status topological_sort();

  // Serialized parts quench does not model (sparse initializers, quantization annotations), kept so
  // that export reproduces them.
  std::vector<std::string> opaque_fields;

 private:
  std::vector<std::unique_ptr<Value>> values_;
  std::unordered_map<std::string, Value*> value_index_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

struct OpsetImport {
  std::string domain;  // "" or "ai.onnx" for the default domain
  int64_t version = 0;
};

struct Model {
  int64_t ir_version = 8;
  std::vector<OpsetImport> opset_imports;
  std::string producer_name;
  std::string producer_version;
  std::string domain;
  int64_t model_version = 0;
  std::string doc_string;
  std::vector<std::pair<std::string, std::string>> metadata_props;
  std::shared_ptr<Graph> graph = std::make_shared<Graph>();
  // Serialized model-level parts quench does not model (functions, training_info).
  std::vector<std::string> opaque_fields;

  // Opset version of a domain ("" and "ai.onnx" are the same), 0 when not imported.
  int64_t opset(std::string_view domain = "") const;
};

// Checks structural rules and reports the first few violations with node names: a cycle, an input
// that no node, graph input or initializer produces (dangling), a graph output nobody produces, an
// initializer without data, a value produced twice, duplicate node names.
Status verify_graph(const Graph& graph);

}  // namespace quench
