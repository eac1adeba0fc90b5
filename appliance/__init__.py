"""The site appliance daemon: devices -> events -> calls -> store -> sync."""

__version__ = "0.1.0"
