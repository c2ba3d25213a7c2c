"""Follow the registry's champion ranker: load it at start, swap it in when the alias moves.

The registry is polled every `poll_s` seconds. A new champion is downloaded and loaded off the
request path, checked against the serving feature list, and swapped in with one assignment, so
requests in flight finish on the model they started with. When the registry cannot be reached,
the service keeps the model it has and says so in the log.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass

from recsys.ranking.apply_rate_ranker import ApplyRateRanker, load_ranker
from recsys.ranking.features import FEATURE_NAMES
from recsys.registry.mlflow_registry import (
    CHAMPION,
    RANKER_MODEL,
    ModelRegistry,
    RegistryUnavailableError,
    Version,
)
from recsys.service.periodic import Periodic
from recsys.service.service import RecommendationService
from recsys.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Champion:
    model: ApplyRateRanker
    version: str
    label: str


def registry_configured(settings: Settings) -> bool:
    """A tracking server is configured, or the embedded registry file exists."""
    return settings.mlflow_uri is not None or (settings.artifacts_dir / "mlflow.db").is_file()


def load_champion(registry: ModelRegistry, version: Version | None = None) -> Champion | None:
    """The champion ranker (`version` when the caller already looked it up), or None when there
    is none; raises RegistryUnavailableError."""
    version = version or registry.by_alias(RANKER_MODEL, CHAMPION)
    if version is None:
        return None
    model = load_ranker(registry.download(version))
    if list(model.feature_names_) != list(FEATURE_NAMES):
        raise ValueError(
            f"champion {version.label} was trained on another feature list; not serving it"
        )
    kind = version.tags.get("kind", model.kind)
    return Champion(model, version.version, f"{kind}:v{version.version}")


class AliasFollower(ABC):
    """Follows one registered model's champion alias on a thread of its own (every `poll_s`
    seconds): a subclass's `adopt` loads a new version off the request path and swaps it in.

    The ranker, the candidate ranker and the title encoder share this loop, so they agree on
    what a failure does: an unreachable registry or a version that does not load leaves the
    current model serving, says so in the log, and is tried again on the next poll.
    """

    #: the registered model followed
    model_name: str
    #: what is followed, for log lines and the thread's name
    what: str
    #: what a version that cannot be served raises while loading (logged, not fatal)
    load_errors: tuple[type[Exception], ...] = (ValueError, OSError)

    def __init__(self, registry: ModelRegistry, poll_s: float, loaded_version: str | None):
        self.registry = registry
        self.poll_s = poll_s
        self.loaded_version = loaded_version
        self._thread = Periodic(
            f"{self.what}-champion", poll_s, self.check, f"{self.what} champion poll failed"
        )

    @abstractmethod
    def adopt(self, version: Version) -> str:
        """Load `version` and swap it into the running service; returns its label for the log.
        Raises one of `load_errors` (or RegistryUnavailableError) with the current model kept."""

    def check(self) -> bool:
        """One poll; True when a new champion was swapped in."""
        try:
            version = self.registry.by_alias(self.model_name, CHAMPION)
            if version is None or version.version == self.loaded_version:
                return False
            label = self.adopt(version)
        except RegistryUnavailableError as exc:
            log.warning(
                "registry unreachable, serving %s %s: %s", self.what, self.loaded_version, exc
            )
            return False
        except self.load_errors as exc:
            log.error("not serving the new %s champion: %s", self.what, exc)
            return False
        self.loaded_version = version.version
        log.warning("now serving %s %s", self.what, label)
        return True

    def start(self) -> AliasFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()


class ChampionFollower(AliasFollower):
    """A thread that swaps a new champion ranker into a running service."""

    model_name = RANKER_MODEL
    what = "ranker"

    def __init__(
        self,
        service: RecommendationService,
        registry: ModelRegistry,
        poll_s: float,
        loaded_version: str | None,
    ):
        self.service = service
        super().__init__(registry, poll_s, loaded_version)

    def adopt(self, version: Version) -> str:
        champion = load_champion(self.registry, version)
        assert champion is not None  # a version was given
        self.service.swap_ranker(champion.model, champion.label)
        return champion.label
