"""Device drivers (drivers/ in the kernel)."""
