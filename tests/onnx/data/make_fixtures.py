#!/usr/bin/python3
"""Writes the small ONNX files tests/onnx/*_test.cpp read. Run with Debian's /usr/bin/python3
(onnx 1.12, numpy) from this folder; the outputs are committed so the tests need no Python.

The unit tests cannot build these themselves: only src/onnx may see the protobuf classes, and some
files are deliberately broken or use encodings quench never writes (typed fields, int32_data for
float16, external data written by the onnx package, unknown fields)."""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
UNKNOWN_FIELD = b"\x98\x06\x07"  # field 99, varint 7: unknown to every ONNX version
# NodeProto.metadata_props (field 9, ONNX 1.16+) = [{key: "k", value: "v"}]: unknown to onnx 1.12.
NODE_METADATA = b"\x4a\x06\x0a\x01k\x12\x01v"


def out(name):
    return os.path.join(HERE, name)


def with_unknown(msg, field=UNKNOWN_FIELD):
    """A copy of msg carrying an unknown field, as a newer ONNX version would write."""
    copy = type(msg)()
    copy.ParseFromString(msg.SerializeToString() + field)
    return copy


def add_model(inits, nodes=None, inputs=None, outputs=None, opset=17, name="g"):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    nodes = nodes if nodes is not None else [helper.make_node("Identity", ["x"], ["y"], name="id")]
    g = helper.make_graph(nodes, name, inputs or [x], outputs or [y], initializer=inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="fixtures")


def save(model, name):
    with open(out(name), "wb") as f:
        f.write(model.SerializeToString())


# 1. External data written by the onnx package itself.
os.makedirs(out("ext"), exist_ok=True)
if os.path.exists(out("ext/weights.bin")):
    os.remove(out("ext/weights.bin"))  # onnx appends to an existing data file
w = np.arange(12, dtype=np.float32).reshape(3, 4) * 0.5
b = np.array([-3, 7, 1 << 40], dtype=np.int64)
m = add_model([numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
onnx.save_model(m, out("ext/model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                location="weights.bin", size_threshold=0)

# 2. External data locations that leave the model's folder.
for fname, location in (("escape_dotdot.onnx", "../secret.bin"), ("escape_abs.onnx", "/etc/passwd")):
    t = numpy_helper.from_array(np.zeros(4, np.float32), "w")
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "16")):
        e = t.external_data.add()
        e.key, e.value = k, v
    save(add_model([t]), fname)

# 3. raw_data of the wrong size: float32[2, 3] needs 24 bytes.
t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2, 3], raw_data=b"\0" * 20)
save(add_model([t]), "bad_raw_size.onnx")

# 4. Typed fields (no raw_data) for every dtype that has one.
typed = [
    helper.make_tensor("f32", TensorProto.FLOAT, [3], [1.5, -2.0, 3.25]),
    helper.make_tensor("f64", TensorProto.DOUBLE, [2], [0.1, -1e300]),
    helper.make_tensor("i64", TensorProto.INT64, [2], [-(1 << 62), 5]),
    helper.make_tensor("i32", TensorProto.INT32, [2], [-7, 2147483647]),
    helper.make_tensor("i16", TensorProto.INT16, [2], [-300, 300]),
    helper.make_tensor("u16", TensorProto.UINT16, [2], [65535, 1]),
    helper.make_tensor("i8", TensorProto.INT8, [3], [-128, 0, 127]),
    helper.make_tensor("u8", TensorProto.UINT8, [2], [255, 3]),
    helper.make_tensor("bool", TensorProto.BOOL, [3], [True, False, True]),
    helper.make_tensor("f16", TensorProto.FLOAT16, [2], np.array([1.0, -0.5], np.float16)),
    helper.make_tensor("u32", TensorProto.UINT32, [2], [4294967295, 9]),
    helper.make_tensor("u64", TensorProto.UINT64, [1], [18446744073709551615]),
]
bf16 = TensorProto(name="bf16", data_type=TensorProto.BFLOAT16, dims=[2])
bf16.int32_data.extend([0x3FC0, 0xC000])  # 1.5, -2.0
typed.append(bf16)
# onnx 1.12 predates INT4 (22), UINT4 (21) and FLOAT8E4M3FN (17): data_type is a plain int field.
i4 = TensorProto(name="i4", data_type=22, dims=[5])
i4.int32_data.extend([0x8F, 0x17, 0x09])  # packed low nibble first: -1 -8 7 1 -7
typed.append(i4)
typed.append(TensorProto(name="u4", data_type=21, dims=[3], raw_data=bytes([0x2F, 0x0A])))  # 15 2 10
f8 = TensorProto(name="f8", data_type=17, dims=[2])
f8.int32_data.extend([0x38, 0xC0])  # 1.0, -2.0 in float8e4m3fn
typed.append(f8)
save(add_model(typed), "typed_fields.onnx")

# 5. A string initializer.
save(add_model([helper.make_tensor("names", TensorProto.STRING, [2], [b"a", b"b"])]), "string_init.onnx")

# 6. Parts quench does not model, which must survive a round trip.
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
x.type.tensor_type.shape.dim[1].denotation = "CHANNEL"
seq = helper.make_tensor_sequence_value_info("s", TensorProto.FLOAT, None)
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
node_attr = helper.make_attribute("value", numpy_helper.from_array(np.ones(2, np.float32), "c_named"))
node_attr = with_unknown(node_attr)
const = helper.make_node("Constant", [], ["c"], name="const")
const.attribute.extend([node_attr])
nodes = [const, with_unknown(helper.make_node("Add", ["x", "c"], ["y"], name="add", doc_string="adds"), NODE_METADATA),
         helper.make_node("SequenceConstruct", ["x"], ["s"], name="seq"),
         helper.make_node("MyFunc", ["x"], ["z"], name="call", domain="local")]
sparse = helper.make_sparse_tensor(helper.make_tensor("sp", TensorProto.FLOAT, [2], [5.0, 6.0]),
                                   helper.make_tensor("sp_i", TensorProto.INT64, [2], [1, 3]), [4])
g = helper.make_graph(nodes, "opaque", [x], [y, seq], sparse_initializer=[sparse],
                      value_info=[helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
                      doc_string="graph doc")
qa = g.quantization_annotation.add()
qa.tensor_name = "y"
kv = qa.quant_parameter_tensor_names.add()
kv.key, kv.value = "SCALE_TENSOR", "y_scale"
g.initializer.append(numpy_helper.from_array(np.float32([2.0]), "y_scale"))
g.initializer[-1].doc_string = "initializer doc"
g = with_unknown(g)
fn = helper.make_function("local", "MyFunc", ["a"], ["b"], [helper.make_node("Neg", ["a"], ["b"])],
                          [helper.make_opsetid("", 17)])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("local", 1)],
                      functions=[fn], producer_name="fixtures", producer_version="1.0",
                      domain="org.quench", model_version=3, doc_string="model doc")
helper.set_model_props(m, {"author": "quench", "license": "MIT"})
ti = m.training_info.add()
ti.algorithm.name = "train"
save(with_unknown(m), "opaque.onnx")

# 7. Structure errors.
nodes = [helper.make_node("Relu", ["b"], ["a"], name="n1"), helper.make_node("Relu", ["a"], ["b"], name="n2"),
         helper.make_node("Identity", ["x"], ["y"], name="id")]
save(add_model([], nodes=nodes), "cycle.onnx")
save(add_model([], nodes=[helper.make_node("Add", ["x", "missing"], ["y"], name="add")]), "dangling.onnx")
save(onnx.ModelProto(ir_version=8), "no_graph.onnx")

# 8. Old style: initializer also listed as a graph input (IR version 3), unsorted nodes.
wv = helper.make_tensor_value_info("w", TensorProto.FLOAT, [2, 3])
nodes = [helper.make_node("Relu", ["t"], ["y"], name="second"), helper.make_node("Add", ["x", "w"], ["t"], name="first")]
m = add_model([numpy_helper.from_array(np.full((2, 3), 0.25, np.float32), "w")], nodes=nodes,
              inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3]), wv], opset=7)
m.ir_version = 3
save(m, "old_style.onnx")
print("fixtures written to", HERE)
