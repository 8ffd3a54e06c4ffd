"""YAML export/import of the whole configuration: our own format, or an original hy2scale ``config.yaml``.

An import is all or nothing: the file is parsed and checked completely, certificates are staged, and
only then does one store transaction replace the configuration (``import_yaml``).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .certs import CertError, CertStore, check_id
from .store import SECTION_NAMES, Store, StoreError, section_default

log = logging.getLogger("hy2scale.config_io")

FORMAT_KEY = "hy2scale_config"
FORMAT_VERSION = 1
# Collections that make up the configuration (API sessions are runtime state and are not exported).
COLLECTIONS = ("clients", "peer_flags", "users", "proxies", "wg_peers", "rules", "api_tokens")


class ConfigError(ValueError):
    """The file cannot be imported; nothing was changed."""


@dataclass
class Plan:
    """A fully checked configuration, ready to replace the stored one."""

    sections: dict[str, dict[str, Any]] = field(default_factory=dict)
    collections: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    admin: dict[str, Any] | None = None
    tls: dict[str, dict[str, Any]] = field(default_factory=dict)


# -- export ------------------------------------------------------------------------------------------


def export_config(store: Store, certs: CertStore) -> dict[str, Any]:
    doc: dict[str, Any] = {FORMAT_KEY: FORMAT_VERSION}
    doc["sections"] = {name: store.sections.get(name) for name in sorted(SECTION_NAMES)}
    for name in COLLECTIONS:
        doc[name] = getattr(store, name).list()
    doc["admin"] = store.admin.get()
    tls: dict[str, Any] = {}
    for info in certs.list():
        entry = {"name": info["name"], "cert": certs.cert_pem(info["id"])}
        key = certs.key_pem(info["id"])
        if key is not None:
            entry["key"] = key
        if info.get("ca_parent_id"):
            entry["ca_parent_id"] = info["ca_parent_id"]
        tls[info["id"]] = entry
    doc["tls"] = tls
    return doc


def export_yaml(store: Store, certs: CertStore) -> str:
    header = "# hy2scale configuration export. It holds every password and private key: keep it private.\n"
    # allow_unicode=False: PyYAML writes some code points (e.g. U+0085, a YAML line break) raw otherwise,
    # and the file would not read back the same. Escaped non-ASCII text is still exact.
    return header + yaml.safe_dump(export_config(store, certs), sort_keys=False, allow_unicode=False)


# -- import ------------------------------------------------------------------------------------------


def load_yaml(text: str) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"malformed YAML{where}: {problem}") from e
    if not isinstance(doc, dict):
        raise ConfigError("not a hy2scale configuration (the top level must be a mapping)")
    return doc


def plan_import(doc: dict[str, Any], store: Store, certs: CertStore) -> tuple[str, Plan]:
    """Which format the document is in, and what importing it would store."""
    from .config_original import looks_original, plan_original  # it builds on this module's types

    if FORMAT_KEY in doc:
        return "hy2scale", plan_ours(doc)
    if looks_original(doc):
        return "original hy2scale", plan_original(doc, certs.dir, store.sections.get("node"))
    raise ConfigError("not a hy2scale configuration (no hy2scale_config marker and no original keys)")


def import_yaml(store: Store, certs: CertStore, text: str) -> str:
    """Replace the configuration with ``text``; returns the format name. Raises ``ConfigError``."""
    kind, plan = plan_import(load_yaml(text), store, certs)
    apply_plan(store, certs, plan)
    log.info(
        "event=config_imported format=%s users=%d clients=%d certs=%d",
        kind.replace(" ", "_"),
        len(plan.collections.get("users", [])),
        len(plan.collections.get("clients", [])),
        len(plan.tls),
    )
    return kind


def plan_ours(doc: dict[str, Any]) -> Plan:
    if doc.get(FORMAT_KEY) != FORMAT_VERSION:
        raise ConfigError(f"unsupported {FORMAT_KEY} version {doc.get(FORMAT_KEY)!r}")
    unknown = set(doc) - {FORMAT_KEY, "sections", "admin", "tls", *COLLECTIONS}
    if unknown:
        raise ConfigError(f"unknown top-level keys: {', '.join(sorted(map(str, unknown)))}")
    plan = Plan()
    sections = _mapping(doc.get("sections") or {}, "sections")
    for name, value in sections.items():
        if name not in SECTION_NAMES:
            raise ConfigError(f"unknown section {name!r}")
        plan.sections[name] = _mapping(value, f"sections.{name}")
    for name in COLLECTIONS:
        plan.collections[name] = _entities(doc.get(name) or [], name)
    admin = doc.get("admin")
    if admin is not None:
        admin = _mapping(admin, "admin")
        for key, kind in (("username", str), ("password_hash", str), ("force_password_change", bool)):
            if not isinstance(admin.get(key), kind):
                raise ConfigError(f"admin.{key} must be a {kind.__name__}")
        plan.admin = {k: admin[k] for k in ("username", "password_hash", "force_password_change")}
    for cert_id, entry in _mapping(doc.get("tls") or {}, "tls").items():
        entry = _mapping(entry, f"tls.{cert_id}")
        if not isinstance(entry.get("cert"), str):
            raise ConfigError(f"tls.{cert_id}.cert must be PEM text")
        plan.tls[str(cert_id)] = entry
    return plan


# Key field of every collection, checked before anything is written.
_KEYS = {
    "clients": "name",
    "peer_flags": "path",
    "users": "id",
    "proxies": "id",
    "wg_peers": "name",
    "rules": "id",
    "api_tokens": "id",
}


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping")
    return value


def _entities(value: Any, name: str) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ConfigError(f"{name} must be a list")
    key = _KEYS[name]
    seen: set[str] = set()
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ConfigError(f"{name}[{i}] must be a mapping")
        if not isinstance(item.get(key), str) or not item[key]:
            raise ConfigError(f"{name}[{i}].{key} is required")
        if item[key] in seen:
            raise ConfigError(f"{name}: duplicate {key} {item[key]!r}")
        seen.add(item[key])
    return value


def apply_plan(store: Store, certs: CertStore, plan: Plan) -> None:
    """Stage certificates, replace the stored configuration in one transaction, then move certs in."""
    staging = Path(tempfile.mkdtemp(prefix=".import-", dir=certs.dir))
    try:
        staged = CertStore(staging)
        for cert_id, entry in plan.tls.items():
            try:
                check_id(cert_id)
                staged.import_pem(cert_id, entry["cert"], entry.get("key"), name=entry.get("name") or cert_id)
            except CertError as e:
                raise ConfigError(f"tls.{cert_id}: {e}") from e
            if entry.get("ca_parent_id"):
                (staging / f"{cert_id}.ca").write_text(str(entry["ca_parent_id"]))
        try:
            with store.transaction():
                for name in SECTION_NAMES:
                    store.sections.put(name, plan.sections.get(name, section_default(name)))
                for name, entities in plan.collections.items():
                    getattr(store, name).replace_all(entities)
                if plan.admin is not None:
                    store.admin.put(**plan.admin)
                store.api_sessions.clear()
        except StoreError as e:
            raise ConfigError(f"cannot store the configuration: {e}") from e
        for cert_id in plan.tls:
            for suffix in ("crt", "key", "name", "ca"):
                staged_file = staging / f"{cert_id}.{suffix}"
                if staged_file.exists():
                    staged_file.replace(certs.dir / staged_file.name)
                else:  # e.g. an old key must not stay beside an imported cert that has none
                    (certs.dir / staged_file.name).unlink(missing_ok=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
