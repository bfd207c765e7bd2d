// Convolution windows unrolled into columns (float_forward.cc), shared by the float and integer
// passes and the layer fit. Instantiated for float and double.
#pragma once

#include <Eigen/Core>

#include "qrepair/model/network.h"

namespace qrepair {

// `x` is one sample in CHW order; `cols` gets one column per output position, one row per
// (channel, kernel row, kernel column) of the window, zero where the window leaves the input.
template <typename T>
void Im2ColT(const T* x, const Shape& in, const Window& w, const Shape& out,
             Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>& cols);

}  // namespace qrepair
