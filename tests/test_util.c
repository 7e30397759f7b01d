#include "test.h"

TEST(placeholder)
{
    CHECK(1);
}

static const test_case tests[] = {TEST_ENTRY(placeholder)};
TEST_MAIN(tests)
