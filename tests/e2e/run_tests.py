"""Runs Python unittest tests for ctest, like `python3 -m unittest -v`, with one difference: a
run whose tests all passed but some were skipped exits 77, which ctest reports as skipped
(SKIP_RETURN_CODE) instead of passed. The skip reasons are listed at the end.
Usage: run_tests.py MODULE            (a test module in the working directory)
       run_tests.py --discover DIR    (every test_*.py in DIR)"""

import sys
import unittest

SKIPPED = 77


def main(argv):
    loader = unittest.TestLoader()
    if argv[1:2] == ["--discover"]:
        suite = loader.discover(argv[2], pattern="test_*.py")
    else:
        sys.path.insert(0, "")
        suite = loader.loadTestsFromNames(argv[1:])
    result = unittest.TextTestRunner(verbosity=2).run(suite)
    if not result.wasSuccessful():
        return 1
    if result.skipped:
        print(f"{len(result.skipped)} test(s) skipped: reported to ctest as skipped")
        for test, reason in result.skipped:
            print(f"  {test.id()}: {reason}")
        return SKIPPED
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
