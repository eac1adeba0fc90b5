"""What the LED wallboards show: per-queue figures -> sign layouts, STRING updates, colours, warnings."""
