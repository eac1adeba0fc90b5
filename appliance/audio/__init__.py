"""Call audio: ALSA devices, the caller <-> agent bridge, voice activity and age-encrypted recording."""
