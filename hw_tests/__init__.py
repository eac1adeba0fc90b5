"""On-site self-tests: one command that tells a technician what is wrong with the box and what to do.

`appliance selftest [--config FILE] [--json] [--only NAME ...] [--loopback PORT] [--no-report]`
(entry point: `hw_tests.cli.selftest_main(argv) -> int`; also `python -m hw_tests`). Exit 0 when
nothing failed (warnings allowed), 1 when a check failed, 2 for a config error or a bad --only.

Check names are stable identifiers (for --only, the JSON output and the central's reports):

  config            the configuration loaded; its summary. A broken config exits 2 before any check.
  clock             kernel NTP state (adjtimex), else `timedatectl`; unsynchronised => warn.
  system            CPU load, memory (> 90 % warn), root disk, temperatures (> 85 °C warn).
  data_dir          site.data_dir writable; free space (warn < 1 GiB or < 10 %, fail < 100 MiB);
                    write+fsync latency (warn when the median is over 50 ms).
  store             SQLite quick_check, schema version, oldest unsent record (warn > 1 h,
                    fail > 24 h), dead letters (warn).
  central:<host:port>
                    per endpoint: client certificate (fail expired / not yet valid / other site,
                    warn under 30 days), TCP reach, TLS handshake with the reason when it fails
                    (wrong CA, host name mismatch, client certificate refused), grpc.health.v1.
  device:<name>     per configured device. Serial ones: port present, opens, not held by another
                    process. GSM modules: identity, IMEI, SIM, signal, network registration; voice
                    modems: identity; Panasonic feeds: port plus age of the newest stored record;
                    Avaya feeds: TCP listener bound plus age of the newest stored record.
  loopback          only with --loopback PORT: random bytes must come back through a TX-RX plug.

The running daemon holds its serial ports exclusively, so while it runs those ports cannot be
opened. When the lock holder is the `appliance run` process, the device is reported PASS "in use
by the running daemon (pid N)" instead of failing: that is the healthy state, and the daemon's
own status says whether the device talks. Stop the daemon to identify the devices themselves.
"""
