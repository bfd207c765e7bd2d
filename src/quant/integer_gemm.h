// The linear layers' accumulators through the int16 kernels (kernels/gemm.h), for the
// reference integer pass: exact, so the pass's results do not change with the kernel.
#pragma once

#include <Eigen/Core>
#include <cstdint>

#include "qrepair/model/quantized_network.h"
#include "qrepair/quant/forward.h"

namespace qrepair {

// acc = W x + b for every unit (and conv position) and sample, as LinearAccumulators defines
// it. Returns false, leaving `acc` alone, when the int16 kernels cannot prove the sums exact
// (weights or codes outside int16, or fan_in * max|w| * max|x| >= 2^31); the caller then takes
// the wide path.
bool Int16LinearAccumulators(const QuantLayer& layer, const CodeBatch& input,
                             Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic>* acc);

}  // namespace qrepair
