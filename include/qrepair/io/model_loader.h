// Reads a float network from ONNX, NNet or qrepair JSON, choosing the format by content.
#pragma once

#include <string>

#include "qrepair/model/network.h"

namespace qrepair {

Network LoadOnnx(const std::string& path);
Network LoadNnet(const std::string& path);

// ONNX (.onnx), NNet (.nnet) or qrepair JSON (.json, kind "float"). Throws Error(kBadInput).
Network LoadFloatNetwork(const std::string& path);

}  // namespace qrepair
