"""First run: identity, hy2 password, default certificate, WireGuard key and admin account, persisted at once.

Each value is only created when missing, so an interrupted first run completes on the next start and an
existing node never gets new secrets (DESIGN.md §4.8; node-core.md §1.4).
"""

from __future__ import annotations

import logging

from . import keygen
from .certs import CertStore
from .store import Store

log = logging.getLogger("hy2scale.firstrun")

DEFAULT_CERT_ID = "default"
DEFAULT_CERT_DAYS = 3650
DEFAULT_ADMIN = "admin"
DEFAULT_ADMIN_PASSWORD = "admin"


def ensure_first_run(store: Store, certs: CertStore) -> bool:
    """Fill in whatever first-run value is missing; returns True when anything was created."""
    created: list[str] = []
    with store.transaction():
        node = store.sections.get("node")
        if not node["node_id"]:
            node["node_id"] = keygen.node_id()
            created.append("node_id")
        if not node["name"]:
            node["name"] = node["node_id"]
        store.sections.put("node", node)

        server = store.sections.get("server")
        if store.sections.stored("server") is None:
            server["password"] = keygen.hy2_password()
            server["tls_cert"] = str(certs.cert_path(DEFAULT_CERT_ID))
            server["tls_key"] = str(certs.key_path(DEFAULT_CERT_ID))
            store.sections.put("server", server)
            created.append("server")
        # Also after an import that points at a default cert the file did not carry.
        uses_default = server["tls_cert"] == str(certs.cert_path(DEFAULT_CERT_ID))
        if uses_default and certs.key_pem(DEFAULT_CERT_ID) is None:
            certs.generate(DEFAULT_CERT_ID, [node["node_id"]], name="Default", days=DEFAULT_CERT_DAYS)
            created.append("default_cert")

        wireguard = store.sections.get("wireguard")
        if not wireguard["private_key"]:
            wireguard["private_key"] = keygen.wg_private_key()
            store.sections.put("wireguard", wireguard)
            created.append("wireguard_key")

        if store.admin.get() is None:
            reset_admin(store)
            created.append("admin")
    if created:
        log.info("event=first_run node_id=%s created=%s", node["node_id"], ",".join(created))
    return bool(created)


def reset_admin(store: Store) -> None:
    """Back to admin/admin with a forced password change; every API session ends."""
    secret = keygen.hash_admin_secret(keygen.sha256_hex(DEFAULT_ADMIN_PASSWORD))
    with store.transaction():
        store.admin.put(DEFAULT_ADMIN, secret, True)
        store.api_sessions.clear()
