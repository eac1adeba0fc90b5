"""Events -> calls -> finished call records: the pure call state machine of lines and PBX legs."""
from appliance.calls.record import CallRecord
from appliance.calls.tracker import CallTracker, DeviceInfo, LineState, LiveCall

__all__ = ["CallRecord", "CallTracker", "DeviceInfo", "LineState", "LiveCall"]
