"""Operations around the flow: control socket, systemd notify and watchdog, metrics, logging, masking, PKI."""
