// The VNN-LIB reader: exact constants, the disjunctive normal form of the asserts, the shapes of
// the VNN-COMP benchmarks (ACAS Xu, MNIST robustness), and malformed files with their place.
#include "qrepair/verify/vnnlib.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "qrepair/error.h"

namespace qrepair {
namespace {

Rational Q(const char* text) {  // "1/10", "-3"
  Rational q(text);
  q.canonicalize();
  return q;
}

std::string Declare(int inputs, int outputs) {
  std::string text;
  for (int i = 0; i < inputs; ++i) text += "(declare-const X_" + std::to_string(i) + " Real)\n";
  for (int j = 0; j < outputs; ++j) text += "(declare-const Y_" + std::to_string(j) + " Real)\n";
  return text;
}

std::string UnitBox(int inputs) {
  std::string text;
  for (int i = 0; i < inputs; ++i) {
    std::string x = "X_" + std::to_string(i);
    text += "(assert (>= " + x + " -1))\n(assert (<= " + x + " 1))\n";
  }
  return text;
}

Property Parse(const std::string& text) { return ParseVnnlibText(text, "test.vnnlib"); }

TEST(VnnlibTest, DecimalAndScientificNotationAreReadExactly) {
  Property p = Parse(Declare(2, 1) +
                     "(assert (>= X_0 0.1)) (assert (<= X_0 1.5e1))"
                     "(assert (>= X_1 -2E-3)) (assert (<= X_1 +.25))"
                     "(assert (<= Y_0 3.991125645861615))");
  ASSERT_EQ(p.regions.size(), 1u);
  const InputBox& box = p.regions[0].box;
  EXPECT_EQ(box.lower[0], Q("1/10"));  // not the double nearest to 0.1
  EXPECT_EQ(box.upper[0], Q("15"));
  EXPECT_EQ(box.lower[1], Q("-1/500"));
  EXPECT_EQ(box.upper[1], Q("1/4"));
  const OutputConstraint& c = p.regions[0].clauses.at(0).constraints.at(0);
  EXPECT_EQ(c.bound, Q("3991125645861615/1000000000000000"));
  EXPECT_EQ(c.coefficients[0], 1);
  EXPECT_FALSE(c.strict);
}

TEST(VnnlibTest, CountsNameAndAcasProperty2Shape) {
  // ACAS Xu property 2's shape: per-input bounds in separate asserts, then four output atoms.
  Property p = ParseVnnlibText(Declare(5, 5) + UnitBox(5) +
                                   "(assert (<= Y_1 Y_0))\n(assert (<= Y_2 Y_0))\n"
                                   "(assert (<= Y_3 Y_0))\n(assert (<= Y_4 Y_0))\n",
                               "dir/prop_2.vnnlib");
  EXPECT_EQ(p.name, "prop_2");
  EXPECT_EQ(p.source, "dir/prop_2.vnnlib");
  EXPECT_EQ(p.num_inputs, 5);
  EXPECT_EQ(p.num_outputs, 5);
  ASSERT_EQ(p.regions.size(), 1u);
  ASSERT_EQ(p.regions[0].clauses.size(), 1u);
  const OutputClause& clause = p.regions[0].clauses[0];
  ASSERT_EQ(clause.constraints.size(), 4u);
  for (int j = 1; j <= 4; ++j) {  // Y_j - Y_0 <= 0
    const OutputConstraint& c = clause.constraints[j - 1];
    ASSERT_EQ(c.coefficients.size(), 5u);
    for (int k = 0; k < 5; ++k) EXPECT_EQ(c.coefficients[k], k == 0 ? -1 : (k == j ? 1 : 0));
    EXPECT_EQ(c.bound, 0);
  }
}

TEST(VnnlibTest, Property6TwoBoxesTimesFourClauses) {
  std::string text = Declare(2, 3) +
                     "(assert (or\n"
                     "  (and (<= X_0 1) (>= X_0 0) (<= X_1 0.5) (>= X_1 0.1))\n"
                     "  (and (<= X_0 1) (>= X_0 0) (<= X_1 -0.1) (>= X_1 -0.5))))\n"
                     "(assert (or (and (<= Y_1 Y_0)) (and (<= Y_2 Y_0))))\n";
  Property p = Parse(text);
  ASSERT_EQ(p.regions.size(), 2u);
  EXPECT_EQ(p.regions[0].box.lower[1], Q("1/10"));
  EXPECT_EQ(p.regions[1].box.upper[1], Q("-1/10"));
  for (const UnsafeRegion& r : p.regions) {
    ASSERT_EQ(r.clauses.size(), 2u);
    EXPECT_EQ(r.clauses[0].constraints.size(), 1u);
    EXPECT_EQ(r.clauses[1].constraints[0].coefficients[2], 1);
    EXPECT_EQ(r.clauses[1].constraints[0].coefficients[0], -1);
  }
}

TEST(VnnlibTest, MnistRobustnessShapeIsOneBoxWithOneClausePerOtherClass) {
  std::string text = ";; robustness of a 4-pixel image, label 2\n" + Declare(4, 4);
  for (int i = 0; i < 4; ++i) {
    text += "(assert (<= X_" + std::to_string(i) + " 0.5))\n(assert (>= X_" + std::to_string(i) +
            " 0.25))\n";
  }
  text += "(assert (or\n (and (>= Y_0 Y_2))\n (and (>= Y_1 Y_2))\n (and (>= Y_3 Y_2))\n))\n";
  Property p = Parse(text);
  ASSERT_EQ(p.regions.size(), 1u);
  ASSERT_EQ(p.regions[0].clauses.size(), 3u);
  const OutputConstraint& c = p.regions[0].clauses[2].constraints.at(0);  // Y_2 - Y_3 <= 0
  EXPECT_EQ(c.coefficients[2], 1);
  EXPECT_EQ(c.coefficients[3], -1);
  EXPECT_EQ(c.bound, 0);
}

TEST(VnnlibTest, DisjunctsWithTheSameBoxShareARegionAndDuplicatesCollapse) {
  // CIFAR-style: every disjunct repeats the box next to its output constraint.
  std::string box = "(<= X_0 1) (>= X_0 0)";
  Property p = Parse(Declare(1, 2) + "(assert (or (and " + box + " (<= Y_0 Y_1)) (and " + box +
                     " (>= Y_0 3)) (and " + box + " (<= Y_0 Y_1))))");
  ASSERT_EQ(p.regions.size(), 1u);
  EXPECT_EQ(p.regions[0].clauses.size(), 2u);
}

TEST(VnnlibTest, LinearTermsAreNormalizedToCoefficientsAndABound) {
  Property p = Parse(Declare(1, 3) + UnitBox(1) +
                     "(assert (<= (+ Y_0 (* 2 Y_1) (- Y_2) 1) (* 0.5 4)))\n"
                     "(assert (>= (- Y_0 Y_1 (* Y_2 -3)) 0.5))\n"
                     "(assert (<= Y_0 (+ Y_0 Y_1)))\n");
  const OutputClause& clause = p.regions.at(0).clauses.at(0);
  ASSERT_EQ(clause.constraints.size(), 3u);
  const OutputConstraint& a = clause.constraints[0];  // Y_0 + 2 Y_1 - Y_2 <= 1
  EXPECT_EQ(a.coefficients[0], 1);
  EXPECT_EQ(a.coefficients[1], 2);
  EXPECT_EQ(a.coefficients[2], -1);
  EXPECT_EQ(a.bound, 1);
  const OutputConstraint& b = clause.constraints[1];  // -(Y_0 - Y_1 + 3 Y_2) <= -1/2
  EXPECT_EQ(b.coefficients[0], -1);
  EXPECT_EQ(b.coefficients[1], 1);
  EXPECT_EQ(b.coefficients[2], -3);
  EXPECT_EQ(b.bound, Q("-1/2"));
  const OutputConstraint& c = clause.constraints[2];  // Y_0 cancels: -Y_1 <= 0
  EXPECT_EQ(c.coefficients[0], 0);
  EXPECT_EQ(c.coefficients[1], -1);
}

TEST(VnnlibTest, InputBoundsWithCoefficientsAndTheTightestBoundWin) {
  Property p = Parse(Declare(1, 1) +
                     "(assert (<= (* 2 X_0) 1)) (assert (>= (* -4 X_0) -3))"  // x <= 1/2, x <= 3/4
                     "(assert (>= 0.5 X_0))"                                  // x <= 1/2
                     "(assert (>= X_0 -1)) (assert (>= (- X_0) -0.25))"       // x >= -1, x <= 1/4
                     "(assert (<= Y_0 0))");
  EXPECT_EQ(p.regions.at(0).box.lower[0], -1);
  EXPECT_EQ(p.regions.at(0).box.upper[0], Q("1/4"));
}

TEST(VnnlibTest, EmptyBoxesAreDroppedAndAPointBoxIsKept) {
  Property p = Parse(Declare(1, 1) +
                     "(assert (or (and (>= X_0 1) (<= X_0 0)) (and (>= X_0 0.0) (<= X_0 0))))"
                     "(assert (<= Y_0 0))");
  ASSERT_EQ(p.regions.size(), 1u);
  EXPECT_EQ(p.regions[0].box.lower[0], 0);
  EXPECT_EQ(p.regions[0].box.upper[0], 0);
}

TEST(VnnlibTest, NoOutputConstraintMeansEveryOutputIsUnsafe) {
  Property p = Parse(Declare(1, 1) + UnitBox(1));
  ASSERT_EQ(p.regions.size(), 1u);
  ASSERT_EQ(p.regions[0].clauses.size(), 1u);
  EXPECT_TRUE(p.regions[0].clauses[0].constraints.empty());
}

TEST(VnnlibTest, CommentsAndLineEndingsDoNotMatter) {
  Property p = Parse(
      "; header\r\n(declare-const X_0 Real) ; the input\r\n(declare-const Y_0 "
      "Real)\r\n(assert (and\t(>= X_0 0) ; low\n (<= X_0 1)))(assert (<= Y_0 0))");
  EXPECT_EQ(p.regions.at(0).box.upper[0], 1);
}

struct Malformed {
  const char* what;
  std::string text;
  int line, column;
  const char* message;
};

// Every malformed file names the place "test.vnnlib:LINE:COL:" and says what was expected.
TEST(VnnlibTest, MalformedFilesNameLineColumnAndWhatWasExpected) {
  const std::string d = Declare(2, 2);  // lines 1..4
  const std::string box = UnitBox(2);   // lines 5..8
  const Malformed cases[] = {
      {"unclosed", d + "(assert (<= X_0 1)\n", 5, 1, "never closed"},
      {"extra close", d + "(assert (<= X_0 1)))\n", 5, 20, "unexpected ')'"},
      {"undeclared", d + box + "(assert (<= Y_7 1))\n", 9, 13, "'Y_7' is not declared"},
      {"sort", "(declare-const X_0 Int)\n", 1, 20, "expected the sort Real"},
      {"name", "(declare-const Z_0 Real)\n", 1, 16, "expected an input X_<i>"},
      {"leading zero", "(declare-const X_01 Real)\n", 1, 16, "expected an input X_<i>"},
      {"twice", d + "(declare-const Y_1 Real)\n", 5, 16, "declared twice"},
      {"number", d + box + "(assert (<= Y_0 1.2.3))\n", 9, 17, "malformed number '1.2.3'"},
      {"exponent", d + box + "(assert (<= Y_0 1e999))\n", 9, 17, "malformed number"},
      {"nonlinear", d + box + "(assert (<= (* Y_0 Y_1) 1))\n", 9, 20, "not linear"},
      {"mixed", d + box + "(assert (<= X_0 Y_0))\n", 9, 9, "mixes inputs and outputs"},
      {"input combination", d + box + "(assert (<= (+ X_0 X_1) 1))\n", 9, 9,
       "must bound one input"},
      {"input vs input", d + box + "(assert (<= X_0 X_1))\n", 9, 9, "must bound one input"},
      {"unbounded", d + "(assert (>= X_0 0))\n(assert (<= X_0 1))\n(assert (>= X_1 0))\n", 2, 16,
       "X_1 has no upper bound"},
      {"strict", d + box + "(assert (< Y_0 1))\n", 9, 10, "got '<'"},
      {"command", d + box + "(check-sat)\n", 9, 2, "expected declare-const or assert"},
      {"gap",
       "(declare-const X_0 Real)\n(declare-const X_2 Real)\n(declare-const Y_0 Real)\n"
       "(assert (<= Y_0 1))\n",
       2, 16, "'X_2' is declared but X_1 is not"},
      {"constants", d + box + "(assert (<= 1 2))\n", 9, 9, "compares constants only"},
      {"two formulas", d + box + "(assert (<= Y_0 1) (<= Y_1 1))\n", 9, 1, "one formula"},
      {"arity", d + box + "(assert (<= Y_0))\n", 9, 9, "exactly two terms"},
      {"term", d + box + "(assert (<= (/ Y_0 2) 1))\n", 9, 14, "expected a linear term"},
      {"bare atom", d + box + "(assert Y_0)\n", 9, 9, "expected (and ...)"},
      {"top atom", d + "declare-const\n", 5, 1, "expected (declare-const NAME Real)"},
      {"empty set", d + "(assert (or (and (>= X_0 1) (<= X_0 0) (>= X_1 0) (<= X_1 1))))\n", 5, 1,
       "the unsafe set is empty"},
      {"empty or", d + box + "(assert (or))\n", 5, 1, "the unsafe set is empty"},
      {"no output", "(declare-const X_0 Real)\n(assert (<= X_0 1))\n", 2, 1,
       "no output Y_0 is declared"},
  };
  for (const Malformed& c : cases) {
    try {
      Parse(c.text);
      ADD_FAILURE() << c.what << ": accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::kBadInput) << c.what;
      std::string place =
          "test.vnnlib:" + std::to_string(c.line) + ":" + std::to_string(c.column) + ": ";
      std::string what = e.what();
      EXPECT_EQ(what.rfind(place, 0), 0u) << c.what << ": " << what;
      EXPECT_NE(what.find(c.message), std::string::npos) << c.what << ": " << what;
      EXPECT_NE(what.find("^ near here"), std::string::npos) << c.what << ": " << what;
    }
  }
}

TEST(VnnlibTest, MarkerPointsUnderTheColumn) {
  try {
    Parse(Declare(1, 1) + "(assert\t(<= Y_0 zz))\n");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("test.vnnlib:3:17: 'zz' is not declared"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("\n(assert\t(<= Y_0 zz))\n       \t        ^ near here"),
              std::string::npos)
        << e.what();
  }
}

TEST(VnnlibTest, ControlBytesAreNotEchoedRaw) {
  try {
    Parse(std::string("\x01\x02\x00 (", 5));
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "test.vnnlib:1:5: this '(' is never closed (the file ends first)\n??? (\n"),
              std::string::npos)
        << e.what();
  }
}

TEST(VnnlibTest, NoAssertAndUnreadableFileNameTheFile) {
  try {
    Parse(Declare(1, 1));
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("test.vnnlib: no (assert ...)"), std::string::npos);
  }
  try {
    ParseVnnlib("/nonexistent/p.vnnlib");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kBadInput);
    EXPECT_NE(std::string(e.what()).find("/nonexistent/p.vnnlib: cannot read"), std::string::npos);
  }
}

TEST(VnnlibTest, DeepNestingIsRefusedNotACrash) {
  std::string text = Declare(1, 1) + "(assert ";
  for (int i = 0; i < 5000; ++i) text += "(and ";
  EXPECT_THROW(Parse(text), Error);
}

// CI only: the ten ACAS Xu properties of VNN-COMP 2021 (../shared/data, never in the project).
TEST(VnnlibAcasTest, ParsesTheTenAcasXuProperties) {
  const std::string dir = std::string(QREPAIR_SOURCE_DIR) + "/../shared/data/vnnlib/acasxu";
  if (!std::filesystem::exists(dir + "/prop_1.vnnlib")) GTEST_SKIP() << dir << " is absent";
  const size_t regions[] = {1, 1, 1, 1, 1, 2, 1, 1, 1, 1};
  const size_t clauses[] = {1, 1, 1, 1, 4, 4, 2, 3, 4, 4};
  for (int k = 1; k <= 10; ++k) {
    SCOPED_TRACE("prop_" + std::to_string(k));
    Property p = ParseVnnlib(dir + "/prop_" + std::to_string(k) + ".vnnlib");
    EXPECT_EQ(p.name, "prop_" + std::to_string(k));
    EXPECT_EQ(p.num_inputs, 5);
    EXPECT_EQ(p.num_outputs, 5);
    ASSERT_EQ(p.regions.size(), regions[k - 1]);
    for (const UnsafeRegion& r : p.regions) {
      EXPECT_EQ(r.clauses.size(), clauses[k - 1]);
      for (int i = 0; i < 5; ++i) {  // around the normalized box (prop_6 reaches 0.7004)
        EXPECT_LE(r.box.lower[i], r.box.upper[i]);
        EXPECT_GE(r.box.lower[i], Q("-1/2"));
        EXPECT_LE(r.box.upper[i], Q("71/100"));
      }
    }
  }
  Property p1 = ParseVnnlib(dir + "/prop_1.vnnlib");  // unsafe: Y_0 >= 3.991125645861615
  const OutputConstraint& c1 = p1.regions[0].clauses[0].constraints.at(0);
  EXPECT_EQ(c1.coefficients[0], -1);
  EXPECT_EQ(c1.bound, Q("-3991125645861615/1000000000000000"));
  EXPECT_EQ(p1.regions[0].box.upper[0], Q("679857769/1000000000"));
  Property p2 = ParseVnnlib(dir + "/prop_2.vnnlib");  // unsafe: Y_0 is the largest output
  const OutputClause& c2 = p2.regions[0].clauses.at(0);
  ASSERT_EQ(c2.constraints.size(), 4u);
  for (int j = 1; j <= 4; ++j) {
    EXPECT_EQ(c2.constraints[j - 1].coefficients[0], -1);
    EXPECT_EQ(c2.constraints[j - 1].coefficients[j], 1);
    EXPECT_EQ(c2.constraints[j - 1].bound, 0);
  }
  Property p6 = ParseVnnlib(dir + "/prop_6.vnnlib");
  EXPECT_EQ(p6.regions[0].box.lower[1], Q("11140846/100000000"));
  EXPECT_EQ(p6.regions[1].box.upper[1], Q("-11140846/100000000"));
}

}  // namespace
}  // namespace qrepair
