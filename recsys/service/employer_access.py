"""Who is asking, and what they may touch: the admin key, or an employer's key and postings.

An employer key is verified against its hash in the catalog database; a verified hash is then
trusted in process for `cache_s` seconds (the API's hot path asks the database once per key per
window, and a revoked key is refused once its window ends). Unknown keys are not cached, so a
key made a moment ago works at once. Postings are owned through `postings.employer_id`.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from recsys.catalog_db import CatalogStore
from recsys.catalog_db.keys import key_hash
from recsys.service.postings import UnknownJobError

#: verified keys kept at most; past it the cache starts afresh (bounded memory under abuse)
MAX_CACHED_KEYS = 10_000


class ForbiddenError(PermissionError):
    """A valid key asking for what it may not touch (or a key that is not valid)."""


@dataclass(frozen=True)
class Principal:
    """The admin (employer_id None, every right) or one employer."""

    employer_id: str | None

    @property
    def is_admin(self) -> bool:
        return self.employer_id is None


ADMIN = Principal(None)


class EmployerAccess:
    """Verifies keys and checks that an employer's request is about its own postings."""

    def __init__(
        self,
        store: CatalogStore,
        admin_key: str,
        cache_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self._admin = admin_key.encode()
        self.cache_s = cache_s
        self.clock = clock
        self._verified: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def principal(self, key: str) -> Principal:
        """The admin or the employer `key` belongs to; ForbiddenError for any other key."""
        if hmac.compare_digest(key.encode(), self._admin):
            return ADMIN
        digest = key_hash(key)
        now = self.clock()
        with self._lock:
            hit = self._verified.get(digest)
        if hit is not None and hit[1] > now:
            return Principal(hit[0])
        employer = self.store.keys.verify(key)
        if employer is None:
            with self._lock:
                self._verified.pop(digest, None)
            raise ForbiddenError("the X-API-Key header holds neither the admin key nor a live key")
        with self._lock:
            if len(self._verified) >= MAX_CACHED_KEYS:
                self._verified.clear()
            self._verified[digest] = (employer, now + self.cache_s)
        return Principal(employer)

    def owners(self, job_ids: Iterable[int]) -> dict[int, str | None]:
        """The employer of each stored posting among `job_ids` (unknown ids left out)."""
        return self.store.postings.employers(job_ids)

    def require_owner(self, principal: Principal, job_id: int) -> None:
        """Pass for the admin and for the posting's own employer; UnknownJobError for a job the
        catalog lacks, ForbiddenError for another employer's posting."""
        if principal.is_admin:
            return
        owners = self.owners([job_id])
        if job_id not in owners:
            raise UnknownJobError(f"no job with id {job_id}")
        if owners[job_id] != principal.employer_id:
            raise ForbiddenError(
                f"job {job_id} belongs to another employer; this key is employer "
                f"{principal.employer_id!r}'s"
            )

    def claim(self, principal: Principal, employer_id: str | None) -> str | None:
        """The employer id a new or changed posting gets: an employer's own (given or not);
        ForbiddenError when an employer names another one. The admin's choice stands."""
        if principal.is_admin:
            return employer_id
        if employer_id is not None and employer_id != principal.employer_id:
            raise ForbiddenError(
                f"this key may only post for employer {principal.employer_id!r}, "
                f"not {employer_id!r}"
            )
        return principal.employer_id
