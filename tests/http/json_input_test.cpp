#include "http/json_input.h"

#include <gtest/gtest.h>

#include "core/limits.h"

namespace tanpu::http {
namespace {

using nlohmann::json;

// The error of a failed Result as "code@field", for compact expectations.
template <class T>
std::string failure(const Result<T>& r) {
  if (r) return "ok";
  return r.error().code + "@" + r.error().field;
}

std::string nested(int depth) {
  return std::string(static_cast<std::size_t>(depth), '[') +
         std::string(static_cast<std::size_t>(depth), ']');
}

TEST(ParseJson, ParsesAnObject) {
  auto r = parse_json(R"({"a": 1, "b": [true, null, "x"]})");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ((*r)["a"], 1);
}

TEST(ParseJson, RequiresABody) {
  EXPECT_EQ(failure(parse_json("")), "body_required@");
  EXPECT_EQ(failure(parse_json(" \r\n\t")), "body_required@");
  EXPECT_EQ(parse_json("").error().kind, ErrorKind::invalid);
}

TEST(ParseJson, ReportsTheBytePositionOfASyntaxError) {
  auto r = parse_json(R"({"a": tru})");
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, "invalid_json");
  EXPECT_EQ(r.error().kind, ErrorKind::invalid);
  EXPECT_NE(r.error().message.find("at byte 10"), std::string::npos) << r.error().message;
  EXPECT_EQ(r.error().message.find("json.exception"), std::string::npos) << r.error().message;
}

TEST(ParseJson, RefusesTrailingGarbageAndComments) {
  EXPECT_EQ(failure(parse_json(R"({"a":1} x)")), "invalid_json@");
  EXPECT_EQ(failure(parse_json(R"({"a":1} {"b":2})")), "invalid_json@");
  EXPECT_EQ(failure(parse_json("{/* c */}")), "invalid_json@");
}

TEST(ParseJson, RefusesInvalidUtf8) {
  EXPECT_EQ(failure(parse_json("{\"a\": \"\xFF\"}")), "invalid_json@");
  EXPECT_EQ(failure(parse_json("{\"a\": \"\xC3\"}")), "invalid_json@");      // truncated sequence
  EXPECT_EQ(failure(parse_json("{\"a\": \"\xC0\xAF\"}")), "invalid_json@");  // overlong '/'
  EXPECT_EQ(failure(parse_json("{\"a\": \"\xED\xA0\x80\"}")), "invalid_json@");  // surrogate
  EXPECT_EQ(failure(parse_json(R"({"a": "\ud800"})")), "invalid_json@");  // lone escaped surrogate
  EXPECT_TRUE(parse_json("{\"a\": \"\xE7\xA2\xB3\"}").has_value());       // 碳
}

TEST(ParseJson, LimitsNestingDepth) {
  EXPECT_TRUE(parse_json(nested(limits::json_depth_max)).has_value());
  EXPECT_EQ(failure(parse_json(nested(limits::json_depth_max + 1))), "json_too_deep@");
  // Far too deep: refused early, not after building the whole tree.
  EXPECT_EQ(failure(parse_json(nested(100'000))), "json_too_deep@");
  std::string objects;
  for (int i = 0; i <= limits::json_depth_max; ++i) objects += "{\"a\":";
  objects += "1" + std::string(static_cast<std::size_t>(limits::json_depth_max) + 1, '}');
  EXPECT_EQ(failure(parse_json(objects)), "json_too_deep@");
}

TEST(ParseJson, RefusesDuplicateKeys) {
  EXPECT_EQ(failure(parse_json(R"({"a": 1, "a": 2})")), "duplicate_key@");
  EXPECT_EQ(failure(parse_json(R"({"x": {"a": 1, "a": 2}})")), "duplicate_key@");
  // The same key in two different objects is fine.
  EXPECT_TRUE(parse_json(R"({"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]})").has_value());
}

class ObjectReaderTest : public ::testing::Test {
 protected:
  json body_ = json::parse(R"({
    "name": "Li Lei", "amount": 1500, "negative": -3, "flag": true, "nothing": null,
    "fraction": 1.5, "exponent": 1e3, "huge": 9223372036854775808, "huger": 1e30,
    "max": 9223372036854775807, "min": -9223372036854775808, "text_number": "12",
    "items": [1, 2, 3], "child": {"code": 7}
  })");
};

TEST_F(ObjectReaderTest, ReadsEachType) {
  ObjectReader r(body_);
  EXPECT_EQ(r.string("name", 64).value(), "Li Lei");
  EXPECT_EQ(r.int64("amount").value(), 1500);
  EXPECT_EQ(r.int64("negative").value(), -3);
  EXPECT_EQ(r.int64("max").value(), INT64_MAX);
  EXPECT_EQ(r.int64("min").value(), INT64_MIN);
  EXPECT_TRUE(r.boolean("flag").value());
  EXPECT_EQ(r.array("items", 3).value()->size(), 3U);
  EXPECT_EQ((*r.object("child").value())["code"], 7);
}

TEST_F(ObjectReaderTest, MissingAndNullRequiredFields) {
  ObjectReader r(body_);
  EXPECT_EQ(failure(r.string("absent", 10)), "missing_field@absent");
  EXPECT_EQ(failure(r.int64("nothing")), "missing_field@nothing");
  EXPECT_EQ(failure(r.boolean("absent")), "missing_field@absent");
  EXPECT_EQ(failure(r.array("absent", 1)), "missing_field@absent");
  EXPECT_EQ(failure(r.object("absent")), "missing_field@absent");
}

TEST_F(ObjectReaderTest, OptionalFieldsAreNulloptWhenAbsentOrNull) {
  ObjectReader r(body_);
  EXPECT_EQ(r.opt_string("absent", 10).value(), std::nullopt);
  EXPECT_EQ(r.opt_int64("nothing").value(), std::nullopt);
  EXPECT_EQ(r.opt_boolean("absent").value(), std::nullopt);
  EXPECT_EQ(r.opt_array("absent", 1).value(), nullptr);
  EXPECT_EQ(r.opt_int64("amount").value(), 1500);
  EXPECT_EQ(failure(r.opt_int64("name")), "wrong_type@name");
}

TEST_F(ObjectReaderTest, WrongTypes) {
  ObjectReader r(body_);
  EXPECT_EQ(failure(r.int64("fraction")), "wrong_type@fraction");
  EXPECT_EQ(failure(r.int64("exponent")), "wrong_type@exponent");
  EXPECT_EQ(failure(r.int64("text_number")), "wrong_type@text_number");
  EXPECT_EQ(failure(r.int64("flag")), "wrong_type@flag");
  EXPECT_EQ(failure(r.string("amount", 10)), "wrong_type@amount");
  EXPECT_EQ(failure(r.boolean("amount")), "wrong_type@amount");
  EXPECT_EQ(failure(r.array("child", 10)), "wrong_type@child");
  EXPECT_EQ(failure(r.object("items")), "wrong_type@items");
}

TEST_F(ObjectReaderTest, IntegersPastInt64AreOutOfRange) {
  ObjectReader r(body_);
  EXPECT_EQ(failure(r.int64("huge")), "out_of_range@huge");  // INT64_MAX + 1, stored unsigned
  EXPECT_EQ(failure(r.int64("huger")), "out_of_range@huger");
  const json past_uint64 = json::parse(R"({"a": 18446744073709551616, "b": -9223372036854775809})");
  ObjectReader p(past_uint64);
  EXPECT_EQ(failure(p.int64("a")), "out_of_range@a");
  EXPECT_EQ(failure(p.int64("b")), "out_of_range@b");
}

TEST_F(ObjectReaderTest, LimitsStringBytesAndArrayItems) {
  ObjectReader r(body_);
  EXPECT_EQ(r.string("name", 6).value(), "Li Lei");
  EXPECT_EQ(failure(r.string("name", 5)), "too_long@name");
  EXPECT_EQ(failure(r.array("items", 2)), "too_many_items@items");
  EXPECT_EQ(failure(r.opt_array("items", 2)), "too_many_items@items");
  // Bytes, not characters: 碳 is three bytes.
  const json cjk = {{"s", "\xE7\xA2\xB3"}};
  ObjectReader c(cjk);
  EXPECT_EQ(failure(c.string("s", 2)), "too_long@s");
}

TEST_F(ObjectReaderTest, FinishRefusesFieldsNeverRead) {
  const json body = {{"amount", 1}, {"memo", "x"}};
  ObjectReader r(body);
  ASSERT_TRUE(r.int64("amount").has_value());
  EXPECT_EQ(failure(r.finish()), "unknown_field@memo");
  ASSERT_TRUE(r.opt_string("memo", 10).has_value());
  EXPECT_TRUE(r.finish().has_value());
}

TEST_F(ObjectReaderTest, AFieldLookedUpButAbsentIsNotUnknown) {
  const json body = {{"a", 1}};
  ObjectReader r(body);
  ASSERT_TRUE(r.int64("a").has_value());
  ASSERT_TRUE(r.opt_string("b", 1).has_value());
  EXPECT_TRUE(r.finish().has_value());
}

TEST(ObjectReader, NamesNestedFieldsWithTheirPath) {
  const json body = json::parse(R"({"transfers": [{"amount": 1}, {"amount": "2", "x": 0}]})");
  ObjectReader top(body);
  const json* transfers = top.array("transfers", 10).value();
  EXPECT_TRUE(top.finish().has_value());
  for (std::size_t i = 0; i < transfers->size(); ++i) {
    ObjectReader item((*transfers)[i], top.path("transfers") + "[" + std::to_string(i) + "]");
    const auto amount = item.int64("amount");
    if (i == 0) {
      EXPECT_EQ(*amount, 1);
      EXPECT_TRUE(item.finish().has_value());
    } else {
      EXPECT_EQ(failure(amount), "wrong_type@transfers[1].amount");
      EXPECT_EQ(failure(item.finish()), "unknown_field@transfers[1].x");
    }
  }
}

TEST(ObjectReader, ABodyThatIsNotAnObjectIsTheWrongType) {
  for (const char* text : {"[1]", "1", "\"s\"", "null", "true"}) {
    const json body = json::parse(text);
    ObjectReader r(body);
    const auto value = r.int64("a");
    ASSERT_FALSE(value.has_value()) << text;
    EXPECT_EQ(value.error().code, "wrong_type") << text;
    EXPECT_EQ(value.error().field, "") << text;
    EXPECT_EQ(failure(r.finish()), "wrong_type@") << text;
  }
  const json items = json::parse("[1]");
  ObjectReader nested_reader(items, "transfers[0]");
  EXPECT_EQ(failure(nested_reader.string("x", 1)), "wrong_type@transfers[0]");
}

TEST(ObjectReader, ErrorsAreOfKindInvalid) {
  const json body = {{"a", "x"}};
  ObjectReader r(body);
  EXPECT_EQ(r.int64("a").error().kind, ErrorKind::invalid);
  EXPECT_EQ(r.int64("b").error().kind, ErrorKind::invalid);
}

}  // namespace
}  // namespace tanpu::http
