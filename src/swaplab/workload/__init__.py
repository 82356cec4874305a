"""Workloads: page contents and access patterns that drive the swap core."""
