"""fine_tuning."""
