// Plots of a repair report, as self-contained SVG (see svg_plot.h).
#pragma once

#include <string>

#include "qrepair/report/report.h"

namespace qrepair {

// Grouped bars per class: float, round-to-nearest (before), the --init start when it is not
// round-to-nearest, and the repaired network (after), in % on the holdout range (the repair
// range when there is no holdout). Needs labels: throws Error(kUsage) without them.
std::string PerClassAccuracySvg(const RepairReport& report);

}  // namespace qrepair
