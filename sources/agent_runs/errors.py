"""Every error the connector raises on purpose, in one place, and the messages of failed requests.
Each message is written for the person running the load: what went wrong and what to do. The
command maps them to exit codes (cli.py): configuration problems exit 2, failed loads 1."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from requests import ConnectionError as RequestsConnectionError
from requests import HTTPError, Response, Timeout

if TYPE_CHECKING:
    from agent_runs.providers import Provider, RunList


class ProviderError(Exception):
    """A failure talking to one provider's API; the message names the provider."""


class ApiKeyRejected(ProviderError):
    """The API answered 401 or 403 (or what else the provider answers a bad key with): the key is
    wrong, expired or lacks access."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class MalformedPage(ProviderError):
    """The API answered with something the connector cannot read safely (it stops rather than skip runs)."""


class InvalidRecord(ValueError):
    """A run the connector cannot key: it has no usable run id or creation time."""


class NoProviderConfigured(ValueError):
    """No API key for any provider asked for, or an account misconfigured: nothing was requested."""


class LoadAlreadyRunning(RuntimeError):
    """Another load of the same pipeline holds its lock; this one did nothing."""


class NoRunsLoaded(ValueError):
    """The dataset has no `runs` table yet: there is nothing to read."""


@contextlib.contextmanager
def provider_errors(run_list: RunList, base_url: str) -> Iterator[None]:
    """Failures of a list's requests as errors that name the provider and say what to do."""
    provider = run_list.provider
    try:
        yield
    except HTTPError as error:
        raise http_failure(provider, run_list.runs_path, error.response) from error
    except (RequestsConnectionError, Timeout) as error:
        raise unreachable(provider, base_url, error) from None
    except json.JSONDecodeError as error:
        raise MalformedPage(
            f"{provider.display_name}: {run_list.runs_path} answered with something that is not JSON ({error})"
        ) from error


def http_failure(provider: Provider, path: str, response: Response | None) -> ProviderError:
    """The error for a request that failed for good: a rejected key says which setting to check;
    anything else gives the status and what the API said (its error message, else the body)."""
    status = response.status_code if response is not None else "no response"
    if status in provider.key_rejected_statuses:
        return ApiKeyRejected(
            f"{provider.display_name} rejected the API key (HTTP {status} on {path}). Check "
            f"{provider.api_key_variable} or `{provider.name}_api_key` under [sources.agent_runs] in .dlt/secrets.toml.",
            status,  # type: ignore[arg-type]
        )
    detail = ""
    if response is not None:
        with contextlib.suppress(ValueError):  # not JSON: the body as sent
            detail = provider.error_message(json.loads(response.content)) or ""
        detail = detail or response.text[:200]
    return ProviderError(f"{provider.display_name}: {path} failed with HTTP {status} after retries: {detail}")


def unreachable(provider: Provider, base_url: str, error: Exception) -> ProviderError:
    """The API could not be reached at all (after retries): which provider, which host, and what to check."""
    host = urlsplit(base_url).netloc or base_url
    reason = "it timed out" if isinstance(error, Timeout) else "the connection failed"
    for text, meaning in (
        ("Name or service not known", "the host name does not resolve"),
        ("nodename nor servname", "the host name does not resolve"),
        ("Temporary failure in name resolution", "the host name does not resolve (DNS)"),
        ("Connection refused", "nothing accepts connections there"),
    ):
        if text in str(error):
            reason = meaning
    return ProviderError(
        f"{provider.display_name}: could not reach {host} ({reason}, after retries). Check {provider.base_url_variable} "
        f"(or `{provider.name}_base_url` in .dlt/config.toml; unset, it is {provider.default_base_url}), "
        "the network and any proxy settings, then run the load again."
    )
