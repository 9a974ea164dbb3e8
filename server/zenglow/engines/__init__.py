"""Engine adapters, one small module per engine, behind the protocols in `base`."""
