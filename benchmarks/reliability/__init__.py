"""Reliability benchmark: fault families, each tried many times, counted clean or bad."""
