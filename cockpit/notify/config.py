"""What to send where: routes (an Apprise URL and which alerts it wants), quiet hours and the
delivery limits, with the one-sentence errors a user's typo deserves.

A route's filters may ride on its URL as `cockpit-*` query parameters, removed before the
URL reaches Apprise, so one repeatable `--notify URL` carries everything:
`json://host/hook?cockpit-severity=critical&cockpit-detectors=nan,stall&cockpit-runs=prod/*`.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from datetime import time as dtime
from urllib.parse import unquote, unquote_plus, urlencode

from cockpit.model.alert import SEVERITIES, Alert, severity_rank
from cockpit.notify.secrets import REFERENCE

PARAM_PREFIX = "cockpit-"
FOLLOW_UPS = ("off", "alerted", "all")


class ConfigError(Exception):
    """A notification setting that cannot be used: one sentence naming it."""


@dataclass(frozen=True, slots=True)
class Route:
    """One destination and the alerts it wants.

    `url` is an Apprise URL template (secrets as `{env:NAME}` / `{keyring:NAME}`);
    `runs` are fnmatch patterns on the run's name; `follow_ups`: "alerted" sends "recovered"
    / "finished" / "failed" for runs this route was alerted about, "all" also announces
    every run that finishes or fails.
    """

    url: str
    min_severity: str = "warning"
    detectors: frozenset[str] = frozenset()  # empty = every detector
    runs: tuple[str, ...] = ()  # empty = every run
    follow_ups: str = "off"
    rate: tuple[int, float] | None = None  # (messages, per seconds); None = the default

    def __post_init__(self) -> None:
        if self.min_severity not in SEVERITIES:
            raise ConfigError(f"notification severity {self.min_severity!r} is not one of "
                              f"{', '.join(SEVERITIES)}")
        if self.follow_ups not in FOLLOW_UPS:
            raise ConfigError(f"follow-ups {self.follow_ups!r} is not one of "
                              f"{', '.join(FOLLOW_UPS)}")

    def wants(self, alert: Alert) -> bool:
        return (severity_rank(alert.severity) >= severity_rank(self.min_severity)
                and (not self.detectors or alert.detector in self.detectors)
                and self.wants_run(alert.run))

    def wants_run(self, run: str) -> bool:
        return not self.runs or any(fnmatch.fnmatchcase(run, p) for p in self.runs)

    def spec(self) -> str:
        """The route as one `--notify` string (the inverse of parse_route)."""
        params: list[tuple[str, str]] = []
        if self.min_severity != "warning":
            params.append((f"{PARAM_PREFIX}severity", self.min_severity))
        if self.detectors:
            params.append((f"{PARAM_PREFIX}detectors", ",".join(sorted(self.detectors))))
        if self.runs:
            params.append((f"{PARAM_PREFIX}runs", ",".join(self.runs)))
        if self.follow_ups != "off":
            params.append((f"{PARAM_PREFIX}followups", self.follow_ups))
        if self.rate is not None:
            params.append((f"{PARAM_PREFIX}rate", f"{self.rate[0]}/{self.rate[1]:g}"))
        if not params:
            return self.url
        joiner = "&" if "?" in self.url else "?"
        return self.url + joiner + urlencode(params, safe="/*,?[]{}:")


def parse_route(text: str) -> Route:
    """A `--notify` value: an Apprise URL, optionally with `cockpit-*` query parameters."""
    text = text.strip()
    if "://" not in text and not REFERENCE.match(text):  # `{env:SLACK_URL}`: all of it secret
        raise ConfigError(f"{text!r} is not a URL (e.g. json://host/path, "
                          "slack://T/B/C, mailto://user@host, ntfys://ntfy.sh/topic)")
    base, _, query = text.partition("?")
    kept: list[str] = []  # the user's own parameters, byte for byte
    options: dict[str, str] = {}
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        if unquote(key).lower().startswith(PARAM_PREFIX):
            options[unquote(key).lower()[len(PARAM_PREFIX):]] = unquote_plus(value)
        else:
            kept.append(part)
    unknown = set(options) - {"severity", "detectors", "runs", "followups", "rate"}
    if unknown:
        raise ConfigError(f"unknown option {PARAM_PREFIX}{sorted(unknown)[0]} "
                          "(known: cockpit-severity, cockpit-detectors, cockpit-runs, "
                          "cockpit-followups, cockpit-rate)")
    url = base + ("?" + "&".join(kept) if kept else "")
    return Route(
        url=url,
        min_severity=options.get("severity", "warning").lower(),
        detectors=frozenset(_split(options.get("detectors", ""))),
        runs=tuple(_split(options.get("runs", ""))),
        follow_ups=options.get("followups", "off").lower() or "off",
        rate=parse_rate(options["rate"]) if "rate" in options else None,
    )


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_rate(text: str) -> tuple[int, float]:
    """`N/SECONDS`, e.g. `6/60`: at most N messages in any SECONDS."""
    count, _, per = text.partition("/")
    try:
        n, seconds = int(count), float(per or 60)
    except ValueError:
        raise ConfigError(f"rate {text!r} is not N/SECONDS (e.g. 6/60)") from None
    if n < 1 or seconds <= 0:
        raise ConfigError(f"rate {text!r} needs at least 1 message per a positive time")
    return n, seconds


@dataclass(frozen=True, slots=True)
class QuietHours:
    """A daily window (local time, may cross midnight) when only critical alerts go out, if
    `critical_overrides`; the rest wait and go out as one digest when it ends."""

    start: dtime
    end: dtime
    critical_overrides: bool = True

    def contains(self, now: datetime) -> bool:
        t = now.time()
        if self.start <= self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end

    def ends_after(self, now: datetime) -> datetime:
        """When the quiet window that holds `now` ends."""
        end = now.replace(hour=self.end.hour, minute=self.end.minute, second=self.end.second,
                          microsecond=self.end.microsecond)
        return end if end > now else end + timedelta(days=1)

    def holds(self, severity: str, now: datetime) -> bool:
        if not self.contains(now):
            return False
        return not (self.critical_overrides and severity == "critical")

    def spec(self) -> str:
        return f"{_hhmm(self.start)}-{_hhmm(self.end)}"


def _hhmm(t: dtime) -> str:
    return t.strftime("%H:%M:%S" if t.second else "%H:%M")


def parse_quiet_hours(text: str, critical_overrides: bool = True) -> QuietHours:
    """`HH:MM-HH:MM` (local time), e.g. `22:00-07:00`."""
    start, sep, end = text.strip().partition("-")
    try:
        if not sep:
            raise ValueError
        a, b = dtime.fromisoformat(start.strip()), dtime.fromisoformat(end.strip())
    except ValueError:
        raise ConfigError(f"quiet hours {text!r} are not HH:MM-HH:MM (e.g. 22:00-07:00)") from None
    if a == b:
        raise ConfigError(f"quiet hours {text!r} start and end at the same time")
    return QuietHours(a, b, critical_overrides)


@dataclass(slots=True)
class NotifyConfig:
    """Everything the notifier needs; the defaults suit a person's phone and inbox."""

    routes: list[Route] = field(default_factory=list)
    quiet_hours: QuietHours | None = None
    gather_s: float = 0.5  # wait this long after an alert for others to join its digest
    digest_at: int = 3  # this many messages ready at once go out as one digest
    rate: tuple[int, float] = (6, 60.0)  # per destination: at most 6 messages a minute
    keep_s: float = 3600.0  # a destination that is down: messages kept and retried this long
    max_kept: int = 10_000  # and at most this many per destination
    retry_initial_s: float = 2.0
    retry_max_s: float = 120.0
    max_age_s: float = 900.0  # alerts about older data (an import of old runs) are not sent
    send_timeout_s: float = 30.0  # one delivery attempt, all of Apprise's work included
    open_app: str = "cockpit app"  # messages add `--run NAME`
    host: str | None = None  # the machine's name for runs whose alerts name none
