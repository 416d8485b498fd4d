// The IR verifier and topological order.
#include <gtest/gtest.h>

#include "ir/clone.h"
#include "ir/graph.h"

namespace quench {
namespace {

struct Fixture {
  Model m;
  Graph& g = *m.graph;
  Value* v(const std::string& n) { return g.get_or_add_value(n); }
};

TEST(Verify, AcceptsValidGraph) {
  Fixture f;
  f.g.inputs.push_back(f.v("x"));
  f.g.add_node("Relu", "a", {f.v("x")}, {f.v("y")});
  f.g.add_node("Relu", "b", {f.v("y")}, {f.v("z")});
  f.g.outputs.push_back(f.v("z"));
  EXPECT_TRUE(verify_graph(f.g).ok()) << verify_graph(f.g).message();
}

TEST(Verify, ReportsDanglingInputWithNodeName) {
  Fixture f;
  f.g.inputs.push_back(f.v("x"));
  f.g.add_node("Add", "add1", {f.v("x"), f.v("ghost")}, {f.v("y")});
  f.g.outputs.push_back(f.v("y"));
  Status s = verify_graph(f.g);
  EXPECT_EQ(s.code(), StatusCode::kInvalid);
  EXPECT_NE(s.message().find("node Add 'add1' input 1 'ghost' is dangling"), std::string::npos) << s.message();
}

TEST(Verify, ReportsMissingInitializerData) {
  Fixture f;
  f.g.inputs.push_back(f.v("x"));
  f.g.initializers.push_back(f.v("w"));  // listed, no data
  f.g.add_node("MatMul", "mm", {f.v("x"), f.v("w")}, {f.v("y")});
  f.g.outputs.push_back(f.v("y"));
  EXPECT_NE(verify_graph(f.g).message().find("initializer 'w' has no data"), std::string::npos);
}

TEST(Verify, ReportsDuplicateNodeNamesAndDoubleProducers) {
  Fixture f;
  f.g.inputs.push_back(f.v("x"));
  f.g.add_node("Relu", "same", {f.v("x")}, {f.v("y")});
  f.g.add_node("Neg", "same", {f.v("x")}, {f.v("y")});
  f.g.outputs.push_back(f.v("y"));
  std::string m = verify_graph(f.g).message();
  EXPECT_NE(m.find("duplicate node name 'same' (Neg)"), std::string::npos) << m;
  EXPECT_NE(m.find("value 'y' is produced twice (by node Neg 'same')"), std::string::npos) << m;
}

TEST(Verify, ReportsCycle) {
  Fixture f;
  f.g.inputs.push_back(f.v("x"));
  f.g.add_node("Add", "a", {f.v("x"), f.v("q")}, {f.v("p")});
  f.g.add_node("Relu", "b", {f.v("p")}, {f.v("q")});
  f.g.outputs.push_back(f.v("q"));
  Status sort = f.g.topological_sort();
  EXPECT_EQ(sort.code(), StatusCode::kInvalid);
  EXPECT_EQ(sort.message(), "graph has a cycle through Add 'a', Relu 'b'");
  Status s = verify_graph(f.g);
  EXPECT_NE(s.message().find("node Add 'a' input 1 'q' is produced by a later node"), std::string::npos)
      << s.message();
}

TEST(TopologicalSort, OrdersProducersFirstAndKeepsSortedGraphs) {
  Fixture f;
  f.g.inputs.push_back(f.v("x"));
  f.g.add_node("Relu", "late", {f.v("y")}, {f.v("z")});
  f.g.add_node("Relu", "early", {f.v("x")}, {f.v("y")});
  f.g.add_node("Relu", "free", {f.v("x")}, {f.v("w")});
  f.g.outputs = {f.v("z"), f.v("w")};
  ASSERT_TRUE(f.g.topological_sort().ok());
  std::vector<std::string> names;
  for (const Node* n : f.g.nodes()) names.push_back(n->name);
  EXPECT_EQ(names, (std::vector<std::string>{"early", "late", "free"}));
  ASSERT_TRUE(f.g.topological_sort().ok());
  names.clear();
  for (const Node* n : f.g.nodes()) names.push_back(n->name);
  EXPECT_EQ(names, (std::vector<std::string>{"early", "late", "free"}));
  EXPECT_TRUE(verify_graph(f.g).ok());
}

TEST(Clone, CopiesStructureAndSharesWeights) {
  Fixture f;
  f.m.opset_imports.push_back({"", 13});
  f.g.inputs.push_back(f.v("x"));
  Value* w = f.v("w");
  w->constant = Tensor::from_vector<float>({2}, {1, 2});
  f.g.initializers.push_back(w);
  Node* n = f.g.add_node("Mul", "mul", {f.v("x"), w}, {f.v("y")});
  Attribute a;
  a.name = "note";
  a.type = AttrType::kString;
  a.s = "kept";
  n->attributes.push_back(a);
  f.g.outputs.push_back(f.v("y"));
  Model c = clone_model(f.m);
  ASSERT_EQ(c.graph->num_nodes(), 1u);
  const Node* cn = c.graph->nodes()[0];
  EXPECT_NE(cn, n);
  EXPECT_EQ(cn->attr_string("note", ""), "kept");
  EXPECT_EQ(cn->inputs[1]->name, "w");
  EXPECT_TRUE(cn->inputs[1]->constant.shares_storage(w->constant));
  EXPECT_EQ(c.opset(""), 13);
  EXPECT_TRUE(verify_graph(*c.graph).ok());
}

}  // namespace
}  // namespace quench
