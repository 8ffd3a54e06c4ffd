"""Users as a spreadsheet: ``GET /users/export.xlsx`` and ``POST /users/import`` (multipart ``file``).

Rows go through the users router's own model and checks, so an imported row is accepted exactly when
``POST /api/users`` would accept it. Mounted before the users router so ``/users/export.xlsx`` is not
taken for a user id.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import logging
import secrets
import zipfile
from collections.abc import Iterable
from typing import Any, get_args

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, ValidationError

from hy2scale.api.deps import ApiError, get_node
from hy2scale.api.routers.users import _STORED, _check_unique, _effective, _fold_aliases, view
from hy2scale.api.schemas.users import ProxyKey, UserCreate
from hy2scale.api.validation import sync_exit
from hy2scale.store import Conflict

log = logging.getLogger("hy2scale.api.users_xlsx")

router = APIRouter(tags=["users"])

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# An .xlsx of 100,000 users is about 6 MiB; the caps keep a hostile upload (or a zip bomb) from
# costing more than a few seconds of parsing.
MAX_UPLOAD = 16 << 20
MAX_UNZIPPED = 256 << 20
MAX_ROWS = 100_000

PROXIES: tuple[str, ...] = get_args(ProxyKey)
_LIST_SEP = ","
COLUMNS = (
    "id",
    "username",
    "password",
    "enabled",
    "exit_via",
    "exit_paths",
    "exit_mode",
    "traffic_limit",
    "traffic_limit_gb",
    "traffic_used",
    "expiry_date",
    "expiry",
    "proxy_disabled",
    *(f"password_{p}" for p in PROXIES),
)
# traffic_used is exported for reading; an import never changes a user's counters.
_IGNORED_ON_IMPORT = {"traffic_used"}


class RowError(BaseModel):
    row: int
    error: str


class ImportResult(BaseModel):
    added: int = 0
    updated: int = 0
    skipped: int = 0
    errors: list[RowError] = []


def _row(user: dict[str, Any]) -> list[Any]:
    shaped = view(user)
    passwords = shaped["proxy_passwords"]
    return [
        shaped["id"],
        shaped["username"],
        shaped["password"],
        shaped["enabled"],
        shaped["exit_via"],
        _LIST_SEP.join(shaped["exit_paths"]),
        shaped["exit_mode"],
        shaped["traffic_limit"],
        shaped["traffic_limit_gb"],
        shaped["traffic_used"],
        shaped["expiry_date"],
        shaped["expiry"],
        _LIST_SEP.join(shaped["proxy_disabled"]),
        *(passwords.get(p, "") for p in PROXIES),
    ]


def build_workbook(users: Iterable[dict[str, Any]]) -> bytes:
    import openpyxl  # only here: it costs ~7 MB of resident memory for a rarely used feature

    book = openpyxl.Workbook(write_only=True)
    sheet = book.create_sheet("users")
    sheet.append(list(COLUMNS))
    for user in users:
        sheet.append(_row(user))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@router.get(
    "/users/export.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX_TYPE: {}}, "description": "every user, one row each"}},
)
async def export_users(request: Request) -> Response:
    node = get_node(request)
    users = node.store.users.list()
    accounts = getattr(node, "accounts", None)
    if accounts is not None:
        users = [{**u, "traffic_used": accounts.traffic_used(u["id"])} for u in users]
    data = await asyncio.to_thread(build_workbook, users)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    log.info("event=users_exported count=%d", len(users))
    return Response(
        content=data,
        media_type=XLSX_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="users-{stamp}.xlsx"',
            "Cache-Control": "no-store",
        },
    )


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value).strip()


def _cell_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _cell_text(value).lower()
    if text in ("", "1", "true", "yes", "y", "on"):
        return True  # an empty cell keeps the API's default (enabled)
    if text in ("0", "false", "no", "n", "off"):
        return False
    raise ValueError(f"enabled: {text!r} is not true/false")


def _cell_number(value: Any) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return float(_cell_text(value)) if "." in _cell_text(value) else int(_cell_text(value))


def _split(value: Any) -> list[str]:
    return [part.strip() for part in _cell_text(value).split(_LIST_SEP) if part.strip()]


def row_to_body(cells: dict[str, Any]) -> dict[str, Any]:
    """A sheet row (header → cell) as a ``POST /users`` body; raises ValueError for unreadable cells."""
    body: dict[str, Any] = {}
    for key in ("id", "username", "password", "exit_via", "exit_mode", "expiry_date", "expiry"):
        if key in cells:
            body[key] = _cell_text(cells[key])
    if not body.get("id"):
        body.pop("id", None)
    for key in ("expiry_date", "expiry"):
        if body.get(key) == "":
            body.pop(key)  # an empty cell means "never", which is also what an absent field means
    if "enabled" in cells:
        body["enabled"] = _cell_bool(cells["enabled"])
    for key in ("traffic_limit", "traffic_limit_gb"):
        if key in cells:
            try:
                number = _cell_number(cells[key])
            except ValueError:
                raise ValueError(f"{key}: {_cell_text(cells[key])!r} is not a number") from None
            if number is not None:
                body[key] = number
    if "exit_paths" in cells:
        body["exit_paths"] = _split(cells["exit_paths"])
    if "proxy_disabled" in cells:
        body["proxy_disabled"] = _split(cells["proxy_disabled"])
    passwords = {p: _cell_text(cells.get(f"password_{p}")) for p in PROXIES}
    body["proxy_passwords"] = {p: pw for p, pw in passwords.items() if pw}
    return body


def read_rows(data: bytes) -> list[tuple[int, dict[str, Any]]]:
    """``(sheet row number, {column: cell})`` per non-empty row of the first sheet; raises ApiError(400)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            if sum(info.file_size for info in archive.infolist()) > MAX_UNZIPPED:
                raise ApiError(400, "spreadsheet too large once unpacked")
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except ApiError:
        raise
    except Exception as exc:  # openpyxl raises many types for a file that is not an .xlsx
        raise ApiError(400, f"not a readable .xlsx file: {type(exc).__name__}") from None
    try:
        rows = book.worksheets[0].iter_rows(values_only=True) if book.worksheets else iter(())
        header = next(rows, None)
        if header is None:
            raise ApiError(400, "the spreadsheet is empty")
        names = [_cell_text(h).lower() for h in header]
        if "username" not in names:
            raise ApiError(400, "the first row must name the columns, including 'username'")
        wanted = [(i, n) for i, n in enumerate(names) if n in COLUMNS and n not in _IGNORED_ON_IMPORT]
        out = []
        for number, values in enumerate(rows, start=2):
            if len(out) >= MAX_ROWS:
                raise ApiError(400, f"too many rows (at most {MAX_ROWS})")
            if not any(v not in (None, "") for v in values):
                continue
            out.append((number, {n: values[i] if i < len(values) else None for i, n in wanted}))
        return out
    finally:
        book.close()


class _Plan:
    """The users as they will be after the import, indexed so each row's checks stay O(1)."""

    def __init__(self, users: list[dict[str, Any]]) -> None:
        self.by_id: dict[str, dict[str, Any]] = {}
        self.by_name: dict[str, str] = {}
        self.by_password: dict[tuple[str, str], set[str]] = {}
        for user in users:
            self.put(user, None)

    def candidates(self, entity: dict[str, Any]) -> list[dict[str, Any]]:
        """Users that could clash with ``entity``: same username or the same effective hy2/ss password."""
        ids = {self.by_name.get(entity["username"])}
        for key in _effective(entity).items():
            ids |= self.by_password.get(key, set())
        return [self.by_id[i] for i in ids if i is not None]

    def put(self, entity: dict[str, Any], old: dict[str, Any] | None) -> None:
        if old is not None:
            self.by_name.pop(old["username"], None)
            for key in _effective(old).items():
                self.by_password.get(key, set()).discard(old["id"])
        self.by_id[entity["id"]] = entity
        self.by_name[entity["username"]] = entity["id"]
        for key in _effective(entity).items():
            if key[1]:
                self.by_password.setdefault(key, set()).add(entity["id"])


def _validate(body: dict[str, Any]) -> dict[str, Any]:
    try:
        model = UserCreate.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ApiError(400, f"{where}: {first['msg']}" if where else first["msg"]) from None
    data = model.model_dump()
    _fold_aliases(data, model.model_fields_set)
    sync_exit(data)
    data.setdefault("traffic_limit", 0)
    data.setdefault("expiry_date", "")
    return data


def apply_import(store: Any, rows: list[tuple[int, dict[str, Any]]], overwrite: bool) -> ImportResult:
    """One transaction: each row is checked in full before it is written, so a bad row changes nothing."""
    result = ImportResult()
    with store.transaction():
        users = store.users.list()
        plan = _Plan(users)
        for number, cells in rows:
            try:
                data = _validate(row_to_body(cells))
                old = plan.by_id.get(data["id"]) if data.get("id") else None
                if old is None and not data.get("id"):
                    same_name = plan.by_name.get(data["username"])
                    old = plan.by_id[same_name] if same_name is not None else None
                if old is not None and not overwrite:
                    result.skipped += 1
                    continue
                data["id"] = old["id"] if old is not None else data.get("id") or secrets.token_hex(4)
                entity = {k: data[k] for k in _STORED}
                if old is not None:
                    entity["traffic_used"] = old.get("traffic_used", 0)
                    passwords = any(entity[k] != old.get(k) for k in ("password", "proxy_passwords"))
                    _check_unique(store, entity, plan.candidates(entity), passwords=passwords)
                    stored = store.users.update(entity["id"], {k: entity[k] for k in _STORED})
                    result.updated += 1
                else:
                    entity["traffic_used"] = 0
                    _check_unique(store, entity, plan.candidates(entity))
                    stored = store.users.create(entity)
                    result.added += 1
                plan.put(stored, old)
            except (ApiError, ValueError, Conflict) as exc:
                message = exc.message if isinstance(exc, ApiError) else str(exc)
                result.errors.append(RowError(row=number, error=message))
    return result


async def _read_upload(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_UPLOAD + 65536:
        raise ApiError(400, f"file too large (at most {MAX_UPLOAD >> 20} MiB)")
    try:
        form = await request.form(max_files=1, max_fields=4)
    except Exception:  # the multipart parser's own errors: not a form upload
        raise ApiError(400, "expected a multipart/form-data upload with a 'file' field") from None
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise ApiError(400, "expected a multipart/form-data upload with a 'file' field")
    data = await upload.read(MAX_UPLOAD + 1)
    await upload.close()
    if len(data) > MAX_UPLOAD:
        raise ApiError(400, f"file too large (at most {MAX_UPLOAD >> 20} MiB)")
    return data


@router.post("/users/import", response_model=ImportResult)
async def import_users(
    request: Request, overwrite: int = Query(0, ge=0, le=1, description="1: rows matching a user replace it")
) -> ImportResult:
    node = get_node(request)
    data = await _read_upload(request)
    rows = await asyncio.to_thread(read_rows, data)
    # Thousands of rows take seconds; the store is thread-safe, so the loop keeps serving meanwhile.
    result = await asyncio.to_thread(apply_import, node.store, rows, bool(overwrite))
    if result.added or result.updated:
        await node.bus.publish("users")
    log.info(
        "event=users_imported added=%d updated=%d skipped=%d errors=%d",
        result.added,
        result.updated,
        result.skipped,
        len(result.errors),
    )
    return result
