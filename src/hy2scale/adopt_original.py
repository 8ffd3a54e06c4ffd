"""Adopt an original (Go) hy2scale data directory: on the first start over a directory that holds the
original's ``config.yaml`` (and ``node-id``, ``tls/``), import it so the node keeps its identity, peers,
users and certificates. The original's files are left as they are.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .certs import CertStore
from .config_io import ConfigError, apply_plan, load_yaml
from .config_original import plan_original
from .store import Store

log = logging.getLogger("hy2scale.adopt")

CONFIG_NAME = "config.yaml"
NODE_ID_NAME = "node-id"


def adopt_original_data_dir(store: Store, certs: CertStore, data_dir: Path) -> bool:
    """Import ``<data>/config.yaml`` into a store that has never been set up; True when it did.

    Raises ``ConfigError`` (naming the file) when the file cannot be imported: starting as a fresh
    node instead would silently drop the operator's configuration.
    """
    config = data_dir / CONFIG_NAME
    if store.sections.stored("node") is not None or not config.is_file():
        return False
    try:
        doc = load_yaml(config.read_text())
        node_id_file = data_dir / NODE_ID_NAME
        if not doc.get("node_id") and node_id_file.is_file():
            # The original keeps the id in its own file and fills an empty config value from it.
            doc["node_id"] = node_id_file.read_text().strip()
        apply_plan(store, certs, plan_original(doc, certs.dir, store.sections.get("node")))
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{config}: cannot read: {e}") from e
    except ConfigError as e:
        raise ConfigError(f"{config}: {e}") from e
    log.info("event=original_data_dir_adopted path=%s", config)
    return True
