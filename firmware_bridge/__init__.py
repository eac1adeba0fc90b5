"""Device drivers, wire codecs and device emulators. Knows nothing about the daemon."""
