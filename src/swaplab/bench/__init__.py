"""Measurement harness, latency statistics, reports and plots."""
