"""The real-kernel oracle: drive a zram device of the host kernel."""
