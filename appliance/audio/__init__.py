"""Call audio: ALSA devices, the caller <-> agent bridge, voice activity and the call recorder."""
