// The linear layers' accumulators through the narrow integer kernels (kernels/gemm.h: u8 x s8
// and int16 codes, int32 sums), for the reference integer pass: exact, so the pass's results do
// not depend on the kernel.
#pragma once

#include <Eigen/Core>
#include <cstdint>

#include "qrepair/model/quantized_network.h"
#include "qrepair/quant/forward.h"

namespace qrepair {

// acc = W x + b for every unit (and conv position) and sample, as LinearAccumulators defines
// it. Returns false, leaving `acc` alone, when the narrow kernels cannot prove the sums exact
// (weights or codes outside int16, or fan_in * max|w| * max|x| >= 2^31); the caller then takes
// the wide path.
bool IntegerGemmAccumulators(const QuantLayer& layer, const CodeBatch& input,
                             Eigen::Matrix<int64_t, Eigen::Dynamic, Eigen::Dynamic>* acc);

}  // namespace qrepair
