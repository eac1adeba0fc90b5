"""Small mechanisms every stage shares, each written once: time formats, back-off, host:port, burst logging."""
