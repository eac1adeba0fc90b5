"""Queue statistics: published definitions (docs/queue-stats.md), live figures, KPI alerts, central recompute."""
