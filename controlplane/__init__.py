"""The control plane: sessions' source of truth, node leases, scheduling, keys and profiles."""
