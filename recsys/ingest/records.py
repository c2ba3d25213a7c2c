"""What one posting or seeker profile must be, checked field by field, for imports and the API.

Validation is pydantic's: a bad row is rejected with every reason at once, the good rows go on.
Locations are free text ("Garden City, NY"), city plus state, or coordinates; the gazetteer turns
text into coordinates, so every posting has a place unless it is remote.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from recsys.jobs import SENIORITY_LEVELS

_TRUE = {"1", "1.0", "true", "t", "yes", "y", "remote"}
_FALSE = {"0", "0.0", "false", "f", "no", "n", "onsite", "on-site", ""}
_LEVELS = {s.lower(): i for i, s in enumerate(SENIORITY_LEVELS)}
_LEVELS.update({"intern": 0, "entry": 1, "junior": 1, "mid": 3, "senior": 3, "manager": 4})


def _flag(value: Any) -> Any:
    if value is None:
        return False
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError(f"{value!r} is not a yes/no value (use true/false, 1/0, yes/no)")
    return value


def _opt_out(value: Any) -> Any:
    """A flag that is true unless given as false: a blank cell is no answer, not a no."""
    if value is None or (isinstance(value, float) and value != value):
        return True
    if isinstance(value, str) and not value.strip():
        return True
    return _flag(value)


def _level(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return None
        if text.isdigit():
            return int(text)
        if text in _LEVELS:
            return _LEVELS[text]
        raise ValueError(f"{value!r} is not a level; use 0-5 or one of {list(SENIORITY_LEVELS)}")
    return value


def _skills(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        sep = "|" if "|" in value else ";" if ";" in value else ","
        return [s.strip() for s in value.split(sep) if s.strip()]
    return list(value)


def _text(value: Any) -> Any:
    """Ids and names as text; "553718.0" (an id a spreadsheet turned into a float) -> "553718"."""
    if value is None:
        return None
    if isinstance(value, str) and value.endswith(".0") and value[:-2].isdigit():
        return value[:-2]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value


def _utc(value: datetime | None) -> datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


Flag = Annotated[bool, BeforeValidator(_flag)]
OptOutFlag = Annotated[bool, BeforeValidator(_opt_out)]
Level = Annotated[Annotated[int, Field(ge=0, le=5)] | None, BeforeValidator(_level)]
Skills = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=100)]], BeforeValidator(_skills)
]
Name = Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=500)]
OptName = Annotated[Annotated[str, Field(max_length=200)] | None, BeforeValidator(_text)]


class PostingRecord(BaseModel):
    """A posting as a board sends it; `external_id` is the board's own key."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    external_id: Name
    title: Name
    company: Name
    employer_id: OptName = None
    location: OptName = None
    city: OptName = None
    state: OptName = None
    country: OptName = None
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    remote: Flag = False
    seniority: Level = None
    job_zone: int | None = Field(None, ge=1, le=5)
    skills: Skills = Field(default_factory=list, max_length=200)
    salary_min: float | None = Field(None, ge=0, le=10_000_000)
    salary_max: float | None = Field(None, ge=0, le=10_000_000)
    employer_rating: float | None = Field(None, ge=0, le=5)
    posted_at: datetime | None = None
    expires_at: datetime | None = None
    status: str = Field("open", pattern="^(open|closed)$")

    @model_validator(mode="after")
    def _consistent(self) -> PostingRecord:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        if self.salary_min and self.salary_max and self.salary_min > self.salary_max:
            raise ValueError(f"salary_min {self.salary_min} is above salary_max {self.salary_max}")
        self.posted_at, self.expires_at = _utc(self.posted_at), _utc(self.expires_at)
        if self.posted_at and self.expires_at and self.expires_at < self.posted_at:
            raise ValueError("expires_at is before posted_at")
        return self


class SeekerRecord(BaseModel):
    """A seeker's profile as a board stores it."""

    model_config = ConfigDict(str_strip_whitespace=True, extra="ignore")

    user_id: Annotated[str, BeforeValidator(_text), Field(min_length=1, max_length=128)]
    title: Name
    skills: Skills = Field(default_factory=list, max_length=200)
    location: OptName = None
    lat: float | None = Field(None, ge=-90, le=90)
    lon: float | None = Field(None, ge=-180, le=180)
    seniority: Level = None
    expected_salary: float | None = Field(None, ge=0, le=10_000_000)
    wants_remote: Flag = False
    #: willing to relocate: searches anywhere, and is a candidate for postings far away
    relocate: Flag = Field(False, validation_alias=AliasChoices("relocate", "willing_to_relocate"))
    #: employers may find this seeker unless they opted out
    discoverable: OptOutFlag = True

    @model_validator(mode="after")
    def _consistent(self) -> SeekerRecord:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("give both lat and lon, or neither")
        return self


POSTING_INPUT_FIELDS = tuple(PostingRecord.model_fields)
SEEKER_INPUT_FIELDS = tuple(SeekerRecord.model_fields)


def reasons(exc: ValidationError) -> str:
    """A validation error as one line: `field: message; field: message`."""
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "row"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
