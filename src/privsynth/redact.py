"""Database URLs without their passwords, for everything privsynth prints or stores.

A URL such as ``postgresql://alice:S3cretPW@db/people`` names a data source or a catalog; its password must
never reach an error message, progress line, report, manifest, model file or catalog row. `mask_url` is the
one place that removes it (the user-info password and a ``password=`` query parameter); `mask` applies it to
free text (a driver's error message may quote the URL or the password itself). Better still, keep the
password out of the URL: PostgreSQL's client library reads $PGPASSWORD, or ~/.pgpass (or $PGPASSFILE), when
the URL has none (see the README, "Databases").
"""

from __future__ import annotations

import os
import re
from urllib.parse import unquote

HIDDEN = "***"
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()\[\]{},;]+")
_QUERY_PASSWORD = re.compile(r"(?i)([?&](?:password|passwd|pwd)=)[^&#\s]*")


def mask_url(url: str | os.PathLike) -> str:
    """`url` with its password (user info and ``password=`` query parameters) replaced by ``***``; anything
    that is not a URL comes back unchanged."""
    text = os.fspath(url)
    scheme, sep, rest = text.partition("://")
    if not sep:
        return text
    query_at = rest.find("?")
    head, query = (rest, "") if query_at < 0 else (rest[:query_at], rest[query_at:])
    at = head.rfind("@")  # the last @: an unescaped @ inside the password stays hidden too
    if at >= 0 and ":" in head[:at]:
        user = head[: head.index(":")]
        head = f"{user}:{HIDDEN}{head[at:]}"
    return f"{scheme}://{head}{_QUERY_PASSWORD.sub(lambda m: m.group(1) + HIDDEN, query)}"


def passwords(url: str | os.PathLike) -> list[str]:
    """The password(s) a URL carries, as written and percent-decoded (to scrub them from other text)."""
    text = os.fspath(url)
    _scheme, sep, rest = text.partition("://")
    if not sep:
        return []
    found = []
    head = rest.split("?", 1)[0]
    at = head.rfind("@")
    if at >= 0 and ":" in head[:at]:
        found.append(head[head.index(":") + 1 : at])
    found += [m.group(0).split("=", 1)[1] for m in _QUERY_PASSWORD.finditer(rest)]
    found += [unquote(p) for p in found]
    return sorted({p for p in found if p and p != HIDDEN}, key=len, reverse=True)


def mask(text: str, *urls: str | os.PathLike | None) -> str:
    """`text` with every URL in it masked, and the passwords of `urls` removed wherever they appear (a
    driver's message may quote a password outside any URL)."""
    text = _URL.sub(lambda m: mask_url(m.group(0)), str(text))
    for url in urls:
        if url is not None:
            for secret in passwords(url):
                text = text.replace(secret, HIDDEN)
    return text
