#include "engine/model/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/model/quantize.h"

namespace ponder::engine {
namespace {

TEST(DTypeTest, HalfRoundTripsEveryFiniteHalfExactly) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    float f = HalfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(FloatToHalf(f), h) << "half 0x" << std::hex << h;
  }
}

TEST(DTypeTest, FloatToHalfRoundsToNearestEven) {
  EXPECT_EQ(HalfToFloat(FloatToHalf(1.0f + 0.00048828125f)), 1.0f);  // halfway: to even (1.0)
  EXPECT_EQ(HalfToFloat(FloatToHalf(1.0f + 0.0009765625f * 1.5f)), 1.001953125f);
  EXPECT_TRUE(std::isinf(HalfToFloat(FloatToHalf(70000.0f))));
  EXPECT_EQ(HalfToFloat(FloatToHalf(5.9604645e-08f)), 5.9604645e-08f);  // smallest subnormal
}

TEST(DTypeTest, BFloat16RoundsToNearestEven) {
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(1.0f)), 1.0f);
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(1.00390625f)), 1.0f);       // halfway: to even
  EXPECT_EQ(BFloat16ToFloat(FloatToBFloat16(1.01171875f)), 1.015625f);  // halfway: to even (up)
  EXPECT_TRUE(std::isnan(BFloat16ToFloat(FloatToBFloat16(NAN))));
}

TEST(DTypeTest, Q8_0QuantizationMatchesGgmlReference) {
  std::vector<float> values(32);
  for (int i = 0; i < 32; ++i) values[i] = (i - 10) * 0.25f;  // max |x| = 5.25 at i = 31
  std::vector<uint8_t> bytes = EncodeAs(DType::kQ8_0, values);
  ASSERT_EQ(bytes.size(), sizeof(BlockQ8_0));
  BlockQ8_0 block;
  std::memcpy(&block, bytes.data(), sizeof(block));
  float d = HalfToFloat(block.d);
  EXPECT_NEAR(d, 5.25f / 127, 3e-5);  // d is stored as fp16
  EXPECT_EQ(block.q[31], 127);
  EXPECT_EQ(block.q[10], 0);
  EXPECT_EQ(block.q[0], static_cast<int8_t>(std::round(-2.5f / (5.25f / 127))));
}

TEST(DTypeTest, Q4_0UsesSignedMaxAndOffsetNibbles) {
  std::vector<float> values(32, 0.0f);
  values[3] = -8.0f;  // the signed max: d = -8 / -8 = 1
  values[20] = 3.0f;
  std::vector<uint8_t> bytes = EncodeAs(DType::kQ4_0, values);
  BlockQ4_0 block;
  std::memcpy(&block, bytes.data(), sizeof(block));
  EXPECT_EQ(HalfToFloat(block.d), 1.0f);
  EXPECT_EQ(block.q[3] & 0xf, 0);     // -8 / 1 + 8 = 0
  EXPECT_EQ(block.q[4] >> 4, 3 + 8);  // value 20 = 16 + 4: high nibble of byte 4
  EXPECT_EQ(block.q[0] & 0xf, 8);     // zero
}

}  // namespace
}  // namespace ponder::engine
