"""Request/response models of the half-B routers (TLS, settings, backup, upgrade, system, services, diag)."""
