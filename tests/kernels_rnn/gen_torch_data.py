# Generates torch_data.h: /usr/bin/python3 gen_torch_data.py > body (see the header comment).
import torch, numpy as np
torch.manual_seed(0)
np.set_printoptions(precision=8)
def fmt(name, a):
    a = np.asarray(a, dtype=np.float32).ravel()
    print(f"const std::vector<float> {name} = {{" + ", ".join(f"{v:.8g}f" for v in a) + "};")
seq, batch, inp, hid = 3, 2, 4, 3
x = torch.randn(seq, batch, inp)
# LSTM bidirectional with bias and initial states
lstm = torch.nn.LSTM(inp, hid, bidirectional=True)
h0 = torch.randn(2, batch, hid); c0 = torch.randn(2, batch, hid)
y, (hn, cn) = lstm(x, (h0, c0))
def reorder_lstm(w):  # torch i f g o -> onnx i o f c
    i, f, g, o = w.chunk(4, 0)
    return torch.cat([i, o, f, g], 0)
W = torch.stack([reorder_lstm(lstm.weight_ih_l0), reorder_lstm(lstm.weight_ih_l0_reverse)])
R = torch.stack([reorder_lstm(lstm.weight_hh_l0), reorder_lstm(lstm.weight_hh_l0_reverse)])
B = torch.stack([torch.cat([reorder_lstm(lstm.bias_ih_l0), reorder_lstm(lstm.bias_hh_l0)]),
                 torch.cat([reorder_lstm(lstm.bias_ih_l0_reverse), reorder_lstm(lstm.bias_hh_l0_reverse)])])
print("// LSTM"); fmt("kX", x.detach()); fmt("kLstmW", W.detach()); fmt("kLstmR", R.detach()); fmt("kLstmB", B.detach())
fmt("kLstmH0", h0); fmt("kLstmC0", c0)
# torch y: [seq, batch, 2*hid] -> onnx [seq, 2, batch, hid]
fmt("kLstmY", y.detach().reshape(seq, batch, 2, hid).permute(0, 2, 1, 3))
fmt("kLstmYh", hn.detach()); fmt("kLstmYc", cn.detach())
# GRU bidirectional (torch == linear_before_reset=1)
gru = torch.nn.GRU(inp, hid, bidirectional=True)
y, hn = gru(x, h0)
def reorder_gru(w):  # torch r z n -> onnx z r h
    r, z, n = w.chunk(3, 0)
    return torch.cat([z, r, n], 0)
W = torch.stack([reorder_gru(gru.weight_ih_l0), reorder_gru(gru.weight_ih_l0_reverse)])
R = torch.stack([reorder_gru(gru.weight_hh_l0), reorder_gru(gru.weight_hh_l0_reverse)])
B = torch.stack([torch.cat([reorder_gru(gru.bias_ih_l0), reorder_gru(gru.bias_hh_l0)]),
                 torch.cat([reorder_gru(gru.bias_ih_l0_reverse), reorder_gru(gru.bias_hh_l0_reverse)])])
print("// GRU"); fmt("kGruW", W.detach()); fmt("kGruR", R.detach()); fmt("kGruB", B.detach())
fmt("kGruY", y.detach().reshape(seq, batch, 2, hid).permute(0, 2, 1, 3)); fmt("kGruYh", hn.detach())
# RNN tanh forward
rnn = torch.nn.RNN(inp, hid)
y, hn = rnn(x, h0[:1])
print("// RNN"); fmt("kRnnW", rnn.weight_ih_l0.detach()[None]); fmt("kRnnR", rnn.weight_hh_l0.detach()[None])
fmt("kRnnB", torch.cat([rnn.bias_ih_l0, rnn.bias_hh_l0]).detach()[None])
fmt("kRnnY", y.detach()); fmt("kRnnYh", hn.detach())
