"""A JSON response that skips pydantic re-validation, for large lists the router already built in shape.

The route still declares its ``response_model`` so the OpenAPI contract is unchanged; the schemathesis
test checks these responses against it.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Response


def json_response(content: Any) -> Response:
    body = json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()
    return Response(content=body, media_type="application/json")
