"""Telephony lines over AT commands: 27.007 GSM/LTE modules and V.253 caller-ID voice modems."""
from .driver import LineDriver
from .emulator import GsmModemEmulator
from .voice_emulator import VoiceModemEmulator
from .protocol import AtCodec, encode_command

__all__ = ["AtCodec", "GsmModemEmulator", "LineDriver", "VoiceModemEmulator", "encode_command"]
