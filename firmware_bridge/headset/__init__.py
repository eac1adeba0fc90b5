"""USB telephony headsets over hidraw: descriptor parser, call-control capabilities, protocol, driver, emulator.

`DESCRIPTORS` is the directory of real report descriptors dumped from devices (descriptors/README.md
names each source): the emulator plays them, the tests and the demo use them.
"""
from pathlib import Path

DESCRIPTORS = Path(__file__).resolve().parent / "descriptors"
