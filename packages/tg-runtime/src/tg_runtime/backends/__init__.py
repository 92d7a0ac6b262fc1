"""Device backends. Each module defines `create_device(name) -> Compiled` and raises DeviceUnavailable."""
