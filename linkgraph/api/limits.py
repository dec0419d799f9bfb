"""The bounds of a request, shared by the server and its client (no framework imported)."""

from __future__ import annotations

from typing import Final

# Rows a query answers when the request gives no limit.
DEFAULT_LIMIT: Final = 100
# Most rows one request may ask for; more are read page by page with the cursor.
MAX_LIMIT: Final = 10_000
# Characters any one parameter value may have.
MAX_PARAM_CHARS: Final = 4096
# Bytes a POST body may have.
MAX_BODY_BYTES: Final = 1024 * 1024
