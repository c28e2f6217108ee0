"""The Hub side of publishing: the token, offline mode, retries with backoff for transient failures, and one clear
line for every other Hub error (the token scrubbed from it)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TypeVar

from builder.core.errors import UserError

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


#: Attempts per Hub step and the first backoff delay (doubled each time, capped at RETRY_MAX_DELAY_S).
RETRY_ATTEMPTS = 4


RETRY_BACKOFF_S = 2.0


RETRY_MAX_DELAY_S = 60.0


Echo = Callable[[str], None]
R = TypeVar("R")


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _root_cause(exc: BaseException) -> BaseException:
    """The Hub or transport error inside wrappers (the LFS upload wraps them in RuntimeError)."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError

    seen = exc
    while seen is not None:
        if isinstance(seen, (HfHubHTTPError, httpx2.TransportError)):
            return seen
        seen = seen.__cause__ or seen.__context__
    return exc


def _transient(exc: BaseException) -> bool:
    import httpx2

    cause = _root_cause(exc)
    return isinstance(cause, httpx2.TransportError) or _status(cause) in RETRY_STATUSES | {412}


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(_root_cause(exc), "response", None)
    value = getattr(response, "headers", {}).get("Retry-After") if response is not None else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def with_retries(
    fn: Callable[[], R],
    what: str,
    echo: Echo,
    *,
    attempts: int | None = None,
    backoff_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> R:
    """Run ``fn``; on a transient failure wait ``backoff_s * 2**i`` (or the server's Retry-After) and run it again."""
    attempts = RETRY_ATTEMPTS if attempts is None else attempts
    backoff_s = RETRY_BACKOFF_S if backoff_s is None else backoff_s
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts or not _transient(exc):
                raise
            delay = min(RETRY_MAX_DELAY_S, max(backoff_s * 2 ** (attempt - 1), _retry_after(exc) or 0.0))
            echo(f"{what}: {_short(exc)}; retrying in {delay:.1f}s (attempt {attempt + 1} of {attempts})")
            sleep(delay)
    raise AssertionError("unreachable")


def _short(exc: BaseException) -> str:
    cause = _root_cause(exc)
    status = _status(cause)
    return f"HTTP {status}" if status else type(cause).__name__


def hub_error_message(exc: BaseException, repo_id: str, endpoint: str, attempts: int = RETRY_ATTEMPTS) -> str:
    """One clear line for an error the Hub (or the network) gave."""
    import httpx2
    from huggingface_hub.errors import (
        HfHubHTTPError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    cause = _root_cause(exc)
    status = _status(cause)
    namespace = repo_id.split("/")[0]
    if isinstance(exc, OfflineModeIsEnabled) or isinstance(cause, OfflineModeIsEnabled):
        return "HF_HUB_OFFLINE is set: publishing needs the Hub; unset HF_HUB_OFFLINE and try again"
    if isinstance(cause, httpx2.TransportError):
        return (
            f"cannot reach the Hub at {endpoint} ({type(cause).__name__}) after {attempts} attempts;"
            " check the network and run publish again (it only uploads what changed)"
        )
    if status == 401:
        return (
            "the Hub rejected the token (401 Unauthorized): it is invalid or expired;"
            " run `hf auth login` or set HF_TOKEN to a token with write access"
        )
    if status == 403:
        return (
            f"no write access to datasets/{repo_id} (403 Forbidden): use a token with write rights"
            f" on the {namespace!r} namespace"
        )
    if isinstance(cause, RepositoryNotFoundError):
        return f"datasets/{repo_id} was not found or is not visible with this token"
    if status == 429:
        return (
            f"the Hub is rate-limiting requests (429 Too Many Requests) after {attempts} attempts;"
            " wait a few minutes and run publish again (it only uploads what changed)"
        )
    if status is not None and status >= 500:
        return (
            f"the Hub answered {status} (server error) after {attempts} attempts;"
            " try again later (publish only uploads what changed)"
        )
    if isinstance(cause, HfHubHTTPError):
        detail = (cause.server_message or str(cause)).strip().splitlines()
        return f"the Hub refused the request ({status}): {detail[0] if detail else type(cause).__name__}"
    first = str(exc).strip().splitlines()
    return f"publishing failed: {type(exc).__name__}: {first[0] if first else ''}"


def _check_repo_id(repo_id: str) -> None:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts):
        raise UserError(f"--repo-id must be USER/NAME (or ORG/NAME), got {repo_id!r}")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise UserError(f"--repo-id {repo_id!r} is not a valid repository id: {str(exc).splitlines()[0]}") from None


def resolve_token(token: str | None = None) -> str | None:
    """``token``, else ``HF_TOKEN``, else the saved login (``huggingface_hub.get_token``)."""
    if token:
        return token
    from huggingface_hub import get_token

    return get_token()


def _offline() -> bool:
    from huggingface_hub import constants

    value = os.environ.get("HF_HUB_OFFLINE", "")
    return constants.is_offline_mode() or value.upper() in ("1", "ON", "YES", "TRUE")


def _scrub(text: str, token: str | None) -> str:
    return text.replace(token, "***") if token else text
