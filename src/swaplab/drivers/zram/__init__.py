"""zram: the compressed RAM block device (drivers/block/zram)."""
