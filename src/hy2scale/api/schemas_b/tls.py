"""Models of the TLS certificate store endpoints (api.md §3.7)."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, model_validator

from hy2scale.api.schemas.common import Body
from hy2scale.api.schemas_b.common import HOSTNAME, CertId

Days = Annotated[int, Field(ge=1, le=36500)]
WILDCARD = re.compile(r"^\*\.")


def san_name(value: str) -> str:
    """A name a certificate can carry as a SAN: an IP, or a (wildcard) DNS name, IDN turned into A-labels."""
    value = value.strip()
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        pass
    prefix, rest = ("*.", value[2:]) if WILDCARD.match(value) else ("", value)
    try:
        ascii_name = rest.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"invalid DNS name {value!r}") from None
    if not HOSTNAME.match(ascii_name):
        raise ValueError(f"invalid DNS name {value!r}")
    return prefix + ascii_name


SanName = Annotated[str, AfterValidator(san_name)]


class CertInfo(BaseModel):
    id: str
    name: str
    subject: str
    issuer: str
    not_after: str = Field(description="YYYY-MM-DD")
    is_ca: bool
    cert_file: str
    key_file: str | None = None
    ca_parent_id: str | None = None
    used_by: str | None = Field(None, description="who uses it (deleting is refused while set)")


class CertImport(Body):
    id: CertId
    name: str = ""
    cert: str = Field(min_length=1, max_length=256 * 1024, description="PEM; a chain is kept whole")
    key: str = Field("", max_length=64 * 1024, description="PEM private key matching the first cert")
    overwrite: bool = False


class CertImportPath(Body):
    id: CertId
    name: str = ""
    cert_path: str = Field(min_length=1, max_length=4096)
    key_path: str = Field("", max_length=4096)
    overwrite: bool = False


class CertGenerate(Body):
    id: CertId
    name: str = ""
    domains: list[Annotated[str, Field(min_length=1, max_length=253)]] = Field(
        min_length=1, max_length=100, description="SAN names of a leaf; for a CA the first is its common name"
    )
    days: Days = 365
    is_ca: bool = False
    overwrite: bool = False

    @model_validator(mode="after")
    def _names(self) -> CertGenerate:
        if not self.is_ca:
            self.domains = [san_name(d) for d in self.domains]
        elif not self.domains[0].strip():
            raise ValueError("the CA needs a common name (domains[0])")
        return self


class CertSign(Body):
    ca_id: CertId
    id: CertId
    name: str = ""
    cn: SanName = Field(min_length=1, max_length=253)
    days: Days = 7300
    overwrite: bool = False
