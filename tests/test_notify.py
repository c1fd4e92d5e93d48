"""Alert delivery through the real Apprise client to receivers on 127.0.0.1.

json:// and ntfy:// post to the local HTTP receiver as they would to any host. Apprise's
slack:// plugin has no setting for its host (hooks.slack.com is a class attribute), so the
Slack test points that attribute at the receiver: the payload is built and posted by the
real plugin. mmost:// (Mattermost's Slack-compatible incoming webhooks) takes a host in its
URL and is tested as the self-hosted form. E-mail goes to aiosmtpd with a real SMTP login.
"""

from __future__ import annotations

import base64
import email
import email.policy
import logging
import threading
import time
from datetime import datetime, timedelta

import pytest

from cockpit.model.alert import Alert
from cockpit.model.lifecycle import LifecycleChange
from cockpit.notify.apprise_client import AppriseSender, clear_secrets, display
from cockpit.notify.config import (
    ConfigError,
    NotifyConfig,
    QuietHours,
    Route,
    parse_quiet_hours,
    parse_route,
)
from cockpit.notify.destination import SendResult
from cockpit.notify.message import Message
from cockpit.notify.notifier import Notifier
from tests.notify_receivers import SmtpReceiver, memory_keyring


def alert(run: str = "exp/a", detector: str = "nan", severity: str = "critical",
          step: int | None = 320, **evidence: object) -> Alert:
    return Alert(run=run, detector=detector, severity=severity, step=step, ts=time.time(),
                 metric="loss", message=f"loss is nan at step {step} (so is grad_norm). Rule: "
                 "any non-finite loss. Next: the batch at that step.",
                 evidence={"value": "nan", "grad_norm": float("nan"), **evidence})


class CountingSender:
    """The real AppriseSender, with a condition to wait on its attempts (no sleeps)."""

    def __init__(self, timeout_s: float = 10.0) -> None:
        self.inner = AppriseSender(timeout_s)
        self.results: list[SendResult] = []
        self.cond = threading.Condition()

    def send(self, template: str, message: Message) -> SendResult:
        result = self.inner.send(template, message)
        with self.cond:
            self.results.append(result)
            self.cond.notify_all()
        return result

    def wait_attempts(self, n: int, timeout: float = 20.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(self.results) >= n, timeout)


class Reports(list[str]):
    """The notifier's reports, with a wait for one that says something."""

    def __init__(self) -> None:
        super().__init__()
        self.cond = threading.Condition()

    def __call__(self, text: str) -> None:
        with self.cond:
            self.append(text)
            self.cond.notify_all()

    def wait_for(self, words: str, timeout: float = 20.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: any(words in r for r in self), timeout)


def notifier(*routes: Route, sender: object = None, **config: object) -> Notifier:
    config.setdefault("gather_s", 0.05)
    cfg = NotifyConfig(routes=list(routes), host="gpu-node-3", **config)  # type: ignore[arg-type]
    return Notifier(cfg, sender=sender).start()  # type: ignore[arg-type]


# ---- through the real client, one service at a time ---------------------------------------------
def test_json_webhook_gets_one_message_saying_run_host_detector_step_evidence_burn_and_how_to_open(http):
    n = notifier(Route(f"json://{http.url_base}/hook"))
    onset = datetime(2026, 3, 1, 3, 12, 5).timestamp()
    n.on_alerts([alert(gpu_hours_since_onset=12.5, cost_since_onset=50.0, onset_ts=onset)])
    assert http.wait_for(1)
    n.close()
    assert len(http.received) == 1
    got = http.received[0].json
    assert got["type"] == "failure" and got["title"] == "Cockpit · CRITICAL nan in exp/a"
    body = got["message"]
    assert "loss is nan at step 320" in body
    assert "run: exp/a · host: gpu-node-3 · detector: nan · step: 320 · metric: loss" in body
    evidence = next(line for line in body.splitlines() if line.startswith("evidence: "))
    assert evidence == "evidence: value=nan, grad_norm=nan, onset_ts=03:12:05"
    assert "GPU time burned since onset: 12.50 GPU-hours ($50.00)" in body
    assert body.splitlines()[-1] == "open: cockpit app --run exp/a"


def test_slack_plugin_posts_its_payload_to_a_local_webhook_host(http, monkeypatch):
    from apprise.plugins.slack import NotifySlack

    monkeypatch.setattr(NotifySlack, "webhook_url", f"http://{http.url_base}/services")
    n = notifier(Route("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7"),
                 Route(f"mmost://{http.url_base}/abcdefghijklmnopqrstuvwxyz"))
    n.on_alerts([alert(run="exp/slack")])
    assert http.wait_for(2)
    n.close()
    by_path = {r.path: r.json for r in http.received}
    slack = by_path["/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7"]
    assert slack["attachments"][0]["title"] == "Cockpit · CRITICAL nan in exp/slack"
    assert "open: cockpit app --run exp/slack" in slack["attachments"][0]["text"]
    mattermost = by_path["/hooks/abcdefghijklmnopqrstuvwxyz"]
    assert "CRITICAL nan in exp/slack" in mattermost["text"]


def test_ntfy_topic_on_a_local_server(http):
    n = notifier(Route(f"ntfy://{http.url_base}/training-alerts"))
    n.on_alerts([alert(run="exp/ntfy")])
    assert http.wait_for(1)
    n.close()
    got = http.received[0].json
    assert got["topic"] == "training-alerts" and "exp/ntfy" in got["title"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_email_over_smtp_with_the_password_from_the_environment(monkeypatch):
    password = "smtp-" + base64.b32encode(threading.get_native_id().to_bytes(4, "big")).decode()
    monkeypatch.setenv("COCKPIT_TEST_SMTP_PASSWORD", password)
    smtp = SmtpReceiver(user="alerts", password=password).start()
    try:
        url = (f"mailto://alerts:{{env:COCKPIT_TEST_SMTP_PASSWORD}}@127.0.0.1:{smtp.port}"
               "?smtp=127.0.0.1&mode=insecure&from=cockpit@localhost&to=oncall@localhost")
        assert "{env:COCKPIT_TEST_SMTP_PASSWORD}" not in display(url)  # masked either way
        assert password not in display(url)
        n = notifier(Route(url))
        n.on_alerts([alert(run="exp/mail", detector="stall", severity="warning")])
        assert smtp.wait_for(1)
        n.close()
    finally:
        smtp.stop()
    assert smtp.logins == [("alerts", password)]
    envelope = smtp.messages[0]
    assert envelope.rcpt_tos == ["oncall@localhost"]
    mail = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert mail["subject"] == "Cockpit · WARNING stall in exp/mail"
    body = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "run: exp/mail · host: gpu-node-3 · detector: stall · step: 320" in body


# ---- retries, digests, rate limits, quiet hours ------------------------------------------------
def test_receiver_down_then_back_is_reported_once_retried_and_delivered_once(http):
    http.stop()  # the port now refuses connections
    sender = CountingSender(timeout_s=5)
    reports: list[str] = []
    cfg = NotifyConfig(routes=[Route(f"json://{http.url_base}/hook")], gather_s=0.05,
                       retry_initial_s=0.1, retry_max_s=0.2)
    n = Notifier(cfg, report=reports.append, sender=sender).start()
    n.on_alerts([alert(run="exp/retry")])
    assert sender.wait_attempts(4)  # failed, backed off, failed again …
    assert all(not r.ok for r in sender.results[:4])
    failed = [r for r in reports if "failed" in r]
    assert len(failed) == 1, reports  # reported once, not once per attempt
    assert "keeping messages and retrying for up to 1 h" in failed[0]
    assert "Connection error" in failed[0]
    http.start()
    assert http.wait_for(1)
    n.close()
    assert len(http.received) == 1  # delivered once, nothing left to re-send
    assert any("delivered again" in r for r in reports)
    assert n.destinations[0].stats.items_delivered == 1 and n.destinations[0].pending == 0


def test_messages_kept_for_a_bounded_time_are_dropped_and_said(http):
    http.stop()
    reports = Reports()
    cfg = NotifyConfig(routes=[Route(f"json://{http.url_base}/hook")], gather_s=0.01,
                       retry_initial_s=0.05, retry_max_s=0.05, keep_s=0.3)
    sender = CountingSender(timeout_s=2)
    n = Notifier(cfg, report=reports, sender=sender).start()
    n.on_alerts([alert(run="exp/lost")])
    assert reports.wait_for("dropped 1 message(s)")
    assert "after 0.3 s without delivery; last error: A Connection error" in reports[-1]
    n.close()
    assert n.destinations[0].stats.items_dropped == 1 and n.destinations[0].pending == 0
    assert not any("not delivered before exit" in r for r in reports)


def test_a_full_outbox_drops_the_oldest_and_says_so_once(http):
    http.stop()
    reports = Reports()
    cfg = NotifyConfig(routes=[Route(f"json://{http.url_base}/hook")], gather_s=0.01,
                       retry_initial_s=0.05, max_kept=5)
    sender = CountingSender(timeout_s=2)
    n = Notifier(cfg, report=reports, sender=sender).start()
    for i in range(8):
        n.on_alerts([alert(run=f"exp/full-{i}")])
    assert n.wait_routed(5)
    http.start()
    assert http.wait_for(1)
    n.close()
    assert [r for r in reports if "dropping the oldest" in r] == [
        f"notifications: dropping the oldest messages for json://{http.url_base}/hook (more than "
        "5 waiting); the total is said at exit"]
    assert reports[-1].endswith("3 message(s) for json://" + http.url_base + "/hook were "
                                "dropped in all")
    body = http.received[0].json["message"]
    assert "exp/full-7" in body and "exp/full-2" not in body


def test_500_alerts_in_a_burst_are_one_digest_within_the_rate_limit(http):
    route = Route(f"json://{http.url_base}/hook", rate=(2, 60.0))
    n = notifier(route, gather_s=0.5)
    for i in range(500):  # a dead node: every run on it goes quiet at once
        n.on_alerts([alert(run=f"node7/run-{i:03d}", detector="stall", severity="warning",
                           step=i, gpu_hours_since_onset=0.5)])
    assert http.wait_for(1)
    assert n.wait_routed(10)
    n.close()
    assert len(http.received) == 1  # one message, not 500 (the limit would allow 2)
    got = http.received[0].json
    assert got["title"] == "Cockpit · 500 alerts on 500 runs (500 warning)"
    body = got["message"].splitlines()
    assert body[0] == "by detector: stall ×500"
    assert body[1] == "GPU time burned since onset, all runs: 250.00 GPU-hours"
    assert sum(1 for line in body if line.startswith("WARNING stall · node7/run-")) == 20
    assert "… and 480 more" in body and body[-1] == "open: cockpit app"
    stats = n.destinations[0].stats
    assert (stats.messages_sent, stats.digests_sent, stats.items_delivered) == (1, 1, 500)


def test_rate_limit_holds_later_messages_and_sends_them_as_one_digest(http):
    n = notifier(Route(f"json://{http.url_base}/hook", rate=(2, 2.0)), gather_s=0.01)
    for i in range(2):
        n.on_alerts([alert(run=f"exp/r{i}")])
        assert http.wait_for(i + 1)
    for i in range(2, 5):
        n.on_alerts([alert(run=f"exp/r{i}")])
    assert http.wait_for(3, timeout=15)
    n.close()
    assert len(http.received) == 3
    first, _, third = (r.at for r in http.received)
    assert third - first >= 2.0 - 0.05  # never more than 2 messages in any 2 s
    assert http.received[2].json["title"].startswith("Cockpit · 3 alerts on 3 runs")


def test_quiet_hours_let_critical_through_and_hold_the_rest_until_they_end(http):
    now = datetime.now()
    start, end = (now - timedelta(hours=1)).time(), (now + timedelta(seconds=1.5)).time()
    quiet = QuietHours(start, end.replace(microsecond=0) if end.microsecond else end)
    n = notifier(Route(f"json://{http.url_base}/hook"), quiet_hours=quiet)
    n.on_alerts([alert(run="exp/quiet", detector="spike", severity="warning")])
    n.on_alerts([alert(run="exp/loud", detector="nan", severity="critical")])
    assert http.wait_for(1)
    assert "exp/loud" in http.received[0].json["title"]
    assert http.wait_for(2, timeout=15)
    n.close()
    assert "exp/quiet" in http.received[1].json["title"]
    ended = datetime.combine(now.date(), quiet.end).timestamp()
    if quiet.end < now.time():
        ended += 86400
    assert http.received[1].at >= ended - 0.05


def test_quiet_hours_cross_midnight_and_parse_with_one_sentence_errors():
    q = parse_quiet_hours("22:00-07:00")
    assert q.contains(datetime(2026, 1, 1, 23, 30)) and q.contains(datetime(2026, 1, 2, 6, 59))
    assert not q.contains(datetime(2026, 1, 2, 7, 0))
    assert q.ends_after(datetime(2026, 1, 1, 23, 0)) == datetime(2026, 1, 2, 7, 0)
    assert q.holds("warning", datetime(2026, 1, 1, 23, 0))
    assert not q.holds("critical", datetime(2026, 1, 1, 23, 0))
    for bad in ("22-7", "22:00", "07:00-07:00", "25:00-01:00"):
        with pytest.raises(ConfigError, match="quiet hours"):
            parse_quiet_hours(bad)


# ---- routing ---------------------------------------------------------------------------------
def test_routes_filter_by_severity_detector_and_run_pattern():
    route = parse_route("json://h/hook?x=1&cockpit-severity=critical&cockpit-detectors=nan,stall"
                        "&cockpit-runs=prod/*,exp-?&cockpit-followups=alerted&cockpit-rate=3/30")
    assert route.url == "json://h/hook?x=1"
    assert route.min_severity == "critical" and route.detectors == {"nan", "stall"}
    assert route.runs == ("prod/*", "exp-?") and route.follow_ups == "alerted"
    assert route.rate == (3, 30.0)
    assert parse_route(route.spec()) == route
    assert parse_route("{env:SLACK_WEBHOOK_URL}?cockpit-severity=critical") == Route(
        "{env:SLACK_WEBHOOK_URL}", "critical")
    assert route.wants(alert(run="prod/llama"))
    assert route.wants(alert(run="exp-1", detector="stall"))
    assert not route.wants(alert(run="prod/llama", severity="warning"))
    assert not route.wants(alert(run="prod/llama", detector="spike"))
    assert not route.wants(alert(run="dev/llama"))
    assert Route("json://h").wants(alert(severity="warning"))
    assert not Route("json://h").wants(alert(severity="info"))
    for bad, what in (("slack", "not a URL"), ("json://h?cockpit-level=x", "unknown option"),
                      ("json://h?cockpit-severity=loud", "severity"),
                      ("json://h?cockpit-rate=many", "rate"),
                      ("json://h?cockpit-followups=sometimes", "follow-ups")):
        with pytest.raises(ConfigError, match=what):
            parse_route(bad)


def test_each_route_gets_what_it_asked_for(http):
    base = f"json://{http.url_base}"
    n = notifier(Route(f"{base}/critical", min_severity="critical"),
                 Route(f"{base}/prod", runs=("prod/*",)),
                 Route(f"{base}/stall", detectors=frozenset({"stall"})))
    n.on_alerts([alert(run="prod/a", detector="spike", severity="warning"),
                 alert(run="dev/b", detector="nan", severity="critical"),
                 alert(run="dev/c", detector="stall", severity="warning")])
    assert http.wait_for(3)
    n.close()
    by_path = {r.path: r.json["title"] for r in http.received}
    assert by_path == {"/critical": "Cockpit · CRITICAL nan in dev/b",
                       "/prod": "Cockpit · WARNING spike in prod/a",
                       "/stall": "Cockpit · WARNING stall in dev/c"}


def test_an_episode_is_one_message_and_old_history_is_not_news(http):
    n = notifier(Route(f"json://{http.url_base}/hook"))
    episode = alert(run="exp/once")
    old = alert(run="exp/old")
    old.ts = time.time() - 3 * 3600  # found by importing a run from this morning
    n.on_alerts([episode, old])
    n.on_alerts([episode])  # the same episode handed over twice (engine and a replay)
    assert http.wait_for(1)
    assert n.wait_routed(5)
    n.close()
    assert [r.json["title"] for r in http.received] == ["Cockpit · CRITICAL nan in exp/once"]
    assert (n.stats.duplicates, n.stats.stale) == (1, 1)


def test_follow_ups_say_recovered_and_finished_when_asked(http):
    base = f"json://{http.url_base}"
    n = notifier(Route(f"{base}/alerted", follow_ups="alerted"), Route(f"{base}/all",
                 follow_ups="all"), Route(f"{base}/off"))
    t = time.time()
    n.on_alerts([alert(run="exp/hang", detector="stall", severity="warning")])
    assert http.wait_for(3)
    n.on_lifecycle([
        LifecycleChange("id-h", "exp/hang", "running", "hung", "points again", t, host="gpu-2"),
        LifecycleChange("id-n", "exp/new", "finished", None, "found finished", t),  # discovery
        LifecycleChange("id-f", "exp/fine", "finished", "running", "exit code 0", t),
    ])
    assert http.wait_for(6)
    assert n.wait_routed(5)
    n.close()
    got = sorted((r.path, r.json["title"]) for r in http.received[3:])
    assert got == [("/alerted", "Cockpit · RECOVERED: exp/hang"),
                   ("/all", "Cockpit · FINISHED: exp/fine"),
                   ("/all", "Cockpit · RECOVERED: exp/hang")]
    recovered = next(r.json for r in http.received if r.json["title"].endswith("exp/hang")
                     and r.path == "/alerted" and "RECOVERED" in r.json["title"])
    assert recovered["type"] == "success"
    assert "run exp/hang on host gpu-2 is logging again (it was hung)." in recovered["message"]
    assert "alerts before this: stall" in recovered["message"]


# ---- secrets -----------------------------------------------------------------------------------
def test_a_secret_in_the_url_never_reaches_a_log_record_or_a_report(http, monkeypatch, caplog):
    secret = "tok-" + "9f3c2a7be4d1"
    monkeypatch.setenv("COCKPIT_TEST_HOOK_TOKEN", secret)
    http.stop()  # failures make Apprise and requests quote the URL they tried
    caplog.set_level(logging.DEBUG)
    reports: list[str] = []
    sender = CountingSender(timeout_s=2)
    url = f"json://bot:{{env:COCKPIT_TEST_HOOK_TOKEN}}@{http.url_base}/hook/{{env:COCKPIT_TEST_HOOK_TOKEN}}"
    cfg = NotifyConfig(routes=[Route(url)], gather_s=0.01, retry_initial_s=0.05)
    n = Notifier(cfg, report=reports.append, sender=sender).start()
    n.on_alerts([alert(run="exp/secret")])
    assert sender.wait_attempts(2)
    http.start()
    assert http.wait_for(1)
    n.close()
    # It was really used: the receiver saw it in the path and the basic-auth header.
    assert http.received[0].path == f"/hook/{secret}"
    assert base64.b64decode(http.received[0].headers["Authorization"].split()[1]).decode() \
        == f"bot:{secret}"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "127.0.0.1" in logged and "JSON" in logged  # Apprise's debug lines were captured
    assert secret not in logged and secret not in "\n".join(reports)
    assert secret not in n.destinations[0].name


def test_clear_secrets_are_told_from_references():
    assert clear_secrets("json://user:hunter22@host/hook")
    assert not clear_secrets("json://user:{env:HOOK_PASSWORD}@host/hook")
    assert clear_secrets("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7")
    assert not clear_secrets("{env:SLACK_WEBHOOK_URL}")
    assert not clear_secrets("ntfys://ntfy.sh/cockpit-alerts")
    assert clear_secrets("mailto://me:pw123456@example.com?smtp=smtp.example.com")
    assert display("{env:SLACK_WEBHOOK_URL}") == "{env:SLACK_WEBHOOK_URL}"
    assert display("json://user:hunter22@host/hook") == "json://user:****@host/hook"


def test_keyring_references_are_read_at_send_time(http):
    from cockpit.notify.secrets import SecretError, expand, store_in_keyring

    with memory_keyring():
        with pytest.raises(SecretError, match="holds no secret 'hook'"):
            expand("json://{keyring:hook}@h")
        ref = store_in_keyring("hook", "kr-secret-77")
        assert ref == "{keyring:hook}"
        n = notifier(Route(f"json://bot:{ref}@{http.url_base}/kr"))
        n.on_alerts([alert(run="exp/keyring")])
        assert http.wait_for(1)
        n.close()
    auth = base64.b64decode(http.received[0].headers["Authorization"].split()[1]).decode()
    assert auth == "bot:kr-secret-77"


def test_lifecycle_changes_reach_the_notifier_after_the_engines_own_listener():
    from cockpit.notify.notifier import chain_on_lifecycle

    class Engine:
        def __init__(self) -> None:
            self.on_lifecycle = seen.append

    seen: list[object] = []
    got: list[object] = []
    engine = Engine()
    chain_on_lifecycle(engine, got.append)
    engine.on_lifecycle(["change"])
    assert seen == got == [["change"]]
    bare = object()
    chain_on_lifecycle(bare, got.append)  # an engine that announces no lifecycle: left alone
    assert not hasattr(bare, "on_lifecycle")
