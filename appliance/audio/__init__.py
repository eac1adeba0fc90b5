"""Call audio: capture, bridge, voice activity and age-encrypted recording segments."""
