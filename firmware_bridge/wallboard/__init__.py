"""Alpha LED wallboards: codec (alpha, framing), driver, emulator and the `[[wallboard]]` settings."""
