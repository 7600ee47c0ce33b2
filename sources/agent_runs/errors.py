"""Every error the connector raises on purpose, in one place. Each message is written for the
person running the load: what went wrong and what to do. The command maps them to exit codes
(cli.py): configuration problems exit 2, failed loads 1."""


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
