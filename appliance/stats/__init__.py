"""Queue statistics and KPI alerts from calls and agents."""
