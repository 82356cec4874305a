"""Library code shared by the swap core and the drivers (the kernel's lib/ and crypto/)."""
