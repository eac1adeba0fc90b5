"""Queue statistics and KPI alerts from calls and agents (definitions: docs/queue-stats.md)."""
