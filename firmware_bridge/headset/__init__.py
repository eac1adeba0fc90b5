"""USB telephony headsets over hidraw: descriptor parser, call-control capabilities, protocol, driver, emulator."""
