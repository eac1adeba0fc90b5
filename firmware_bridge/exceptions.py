"""The few exceptions a driver raises; each docstring lists the scenarios that cause it."""


class DeviceError(Exception):
    """Base of every error a driver raises about its device."""


class DeviceNotFound(DeviceError):
    """The configured port does not exist or cannot be opened.

    Examples: `/dev/serial/by-id/...` link absent because the USB cable is out;
    permission denied (not in `dialout`); TCP listen address already in use.
    """


class DeviceBusy(DeviceError):
    """Another process holds the port (pyserial `exclusive=True` flock failed).

    Examples: ModemManager probing a modem; a stray `minicom` or `cat` left open.
    """


class DeviceGone(DeviceError):
    """The device went away while open: an empty read on a readable port, or EIO.

    Examples: USB unplugged; the pty master closed; a USB-serial adapter reset.
    The owner closes the driver and reopens later; never retry on the same fd.
    """


class DeviceTimeout(DeviceError):
    """The device did not answer a command within its deadline.

    Examples: module powered off; wrong baud rate; TX/RX swapped.
    """


class CommandFailed(DeviceError):
    """The device answered a command with an error result (ERROR, +CME ERROR: n)."""


class NotOpen(DeviceError, ValueError):
    """A driver method that needs the port was called while the driver is closed.

    A ValueError too, as Python's own closed files raise. Examples: `read_events()` after
    `close()`; a self-test asking a driver it never opened.
    """


class DescriptorError(DeviceError):
    """A device describes itself in a way that cannot be used (a malformed HID report descriptor).

    Examples: a truncated long item; a Report Size of 0 on a data field; a descriptor with no
    telephony collection handed to the headset driver.
    """
