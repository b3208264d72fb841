// The parts of attncore._cpp (python/bind_*.cpp): each adds its kernels' functions to the module.
#pragma once

#include <pybind11/pybind11.h>

namespace attncore_py {

void bind_layers(pybind11::module_& m);     // softmax, affine, embedding, loss, Adam
void bind_attention(pybind11::module_& m);  // attention weight and sum, time attention, greedy decoding
void bind_recurrent(pybind11::module_& m);  // LSTM, the book's GRU, the reset-after GRU

}  // namespace attncore_py
