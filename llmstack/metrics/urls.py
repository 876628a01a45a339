"""Prometheus URLs: credentials split off for the HTTP client, and never shown.

``http://user:pass@host:9090`` is a valid way to give basic auth, so the reader takes the
credentials out of the URL and every URL it prints or audits is :func:`redact`-ed
(``http://***@host:9090``). :func:`llmstack.errors.redact` scrubs the same pattern from any text.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit

from llmstack.errors import redact as redact_text


def split_credentials(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without its userinfo, and the user and password it carried (percent-decoded)."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None, None
    host = parts.netloc.rpartition("@")[2]
    bare = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return bare, user, password


def redact(url: str) -> str:
    """``url`` safe to print: userinfo replaced by ``***``, a query string's values hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = "&".join(f"{kv.partition('=')[0]}=***" if "=" in kv else kv for kv in parts.query.split("&")) \
        if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
