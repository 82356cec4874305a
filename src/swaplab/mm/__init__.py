"""The swap core: what the kernel keeps in mm/."""
