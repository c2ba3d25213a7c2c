"""Follow the registry's champion ranker: load it at start, swap it in when the alias moves.

The registry is polled every `poll_s` seconds. A new champion is downloaded and loaded off the
request path, checked against the serving feature list, and swapped in with one assignment, so
requests in flight finish on the model they started with. When the registry cannot be reached,
the service keeps the model it has and says so in the log.
"""

from __future__ import annotations

import logging
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


class ChampionFollower:
    """A thread that swaps a new champion into a running service."""

    def __init__(
        self,
        service: RecommendationService,
        registry: ModelRegistry,
        poll_s: float,
        loaded_version: str | None,
    ):
        self.service = service
        self.registry = registry
        self.poll_s = poll_s
        self.loaded_version = loaded_version
        self._thread = Periodic("champion", poll_s, self.check, "champion poll failed")

    def check(self) -> bool:
        """One poll; True when a new champion was swapped in."""
        try:
            version = self.registry.by_alias(RANKER_MODEL, CHAMPION)
            if version is None or version.version == self.loaded_version:
                return False
            champion = load_champion(self.registry, version)
        except RegistryUnavailableError as exc:
            log.warning("registry unreachable, serving %s: %s", self.loaded_version, exc)
            return False
        except (ValueError, OSError) as exc:
            log.error("not serving the new champion: %s", exc)
            return False
        if champion is None:
            return False
        self.service.swap_ranker(champion.model, champion.label)
        self.loaded_version = champion.version
        log.warning("now serving ranker %s", champion.label)
        return True

    def start(self) -> ChampionFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._thread.stop()
