"""`python -m hw_tests ...` runs the self-test, as `appliance selftest ...` does."""
import sys

from .cli import selftest_main

sys.exit(selftest_main(sys.argv[1:]))
