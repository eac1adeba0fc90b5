"""Hand-assembled descriptors for layouts the real dumps in firmware_bridge/headset/descriptors do not cover.

These are synthetic (written for the tests, item by item), never presented as a device's dump.
"""

# Unnumbered: one report each way. Input: Hook Switch (absolute, no preferred state) bit 0,
# Phone Mute (relative, preferred state: toggle) bit 1, Flash (absolute) bit 2, 5 bits padding.
# Output: LED Off-Hook bit 0, Mute bit 1, Ring bit 2, 5 bits padding.
UNNUMBERED = bytes.fromhex(
    "050b 0905 a101"
    " 1500 2501 7501"
    " 0920 9501 8122"
    " 092f 8106"
    " 0921 8102"
    " 9505 8101"
    " 0508 0917 0909 0918 9503 9122"
    " 9505 9101"
    " c0")

# Two telephony application collections, one LED per report ID (the Poly layout).
# Headset (report 1 in: hook bit 0, mute toggle bit 1; report 2 out: Off-Hook; report 3 out: Mute)
# and Phone (report 4 in: Redial bit 0; report 5 out: Ring bit 0, Hold bit 1).
TWO_COLLECTIONS = bytes.fromhex(
    "050b 0905 a101 8501 1500 2501 7501 9501"
    " 0920 8122 092f 8106 9506 8101"
    " 8502 0508 0917 9501 9122 9507 9101"
    " 8503 0909 9501 9122 9507 9101"
    " c0"
    " 050b 0901 a101 8504 1500 2501 7501 9501"
    " 0924 8106 9507 8101"
    " 8505 0508 0918 9501 9122 0920 9122 9506 9101"
    " c0")

# On/off buttons: Hook Switch and Phone Mute relative with logical -1..1 (2 bits each).
ON_OFF = bytes.fromhex(
    "050b 0905 a101 15ff 2501 7502 9501"
    " 0920 8126 092f 8126 7504 8101"
    " 1500 2501 7501 0508 0917 9122 9507 9101"
    " c0")

# A constant Hook Switch and no indicators at all: a placeholder telephony collection.
CONSTANT_HOOK = bytes.fromhex(
    "050b 0905 a101 8503 1500 2501 7501 9501 0920 8123 9507 8101 c0")
