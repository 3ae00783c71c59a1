"""Chaos soak: the real pipeline under provider faults, worker kills and server restarts."""
