"""Device runners: put firmware_bridge drivers on the event loop, reconnect with back-off, report UP/DOWN."""
from appliance.devices.gate import InputGate
from appliance.devices.runner import DeviceRunner, DeviceState

__all__ = ["DeviceRunner", "DeviceState", "InputGate"]
