"""`cockpit notify --test URL` and the `--notify` options `watch` takes.

Routes are checked when the command starts (an unknown scheme or an unset `{env:NAME}` is one
sentence and exit 2), but secrets are expanded again for every send and never printed.
"""

from __future__ import annotations

import argparse
import socket
import sys
from typing import Any

from cockpit.cli.errors import CliError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("notify", help="check a notification route: send a sample alert",
                       description="Send a sample alert to Apprise URLs (Slack, e-mail, ntfy, "
                                   "webhooks …) to check a route before `watch --notify` uses "
                                   "it. Secrets may be written {env:NAME} or {keyring:NAME}.")
    p.add_argument("--test", dest="urls", action="append", required=True, metavar="URL",
                   help="an Apprise URL to send a sample alert to (repeatable)")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SEC",
                   help="give up on a destination after this long (default 30)")
    p.set_defaults(func=cmd_notify)


def add_notify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--notify", action="append", default=[], metavar="URL",
                   help="also send alerts to this Apprise URL (repeatable); filters as "
                        "?cockpit-severity=critical&cockpit-detectors=nan,stall"
                        "&cockpit-runs=prod/*&cockpit-followups=alerted|all")
    p.add_argument("--quiet-hours", metavar="HH:MM-HH:MM",
                   help="local hours when only critical alerts are sent; the rest wait for "
                        "the end as one digest")


def _routes(urls: list[str], option: str = "--notify") -> list[Any]:
    from cockpit.notify.apprise_client import check_url
    from cockpit.notify.config import ConfigError, parse_route
    from cockpit.notify.secrets import SecretError

    routes = []
    for url in urls:
        try:
            route = parse_route(url)
            check_url(route.url)
        except (ConfigError, SecretError) as err:
            raise CliError(f"{option}: {err}") from None
        routes.append(route)
    return routes


def build_notifier(args: argparse.Namespace) -> Any:
    """The started Notifier for `watch --notify …`, or None when no route was given."""
    if not args.notify:
        return None
    from cockpit.notify.apprise_client import display
    from cockpit.notify.config import ConfigError, NotifyConfig, parse_quiet_hours
    from cockpit.notify.message import open_app_command
    from cockpit.notify.notifier import Notifier

    routes = _routes(args.notify)
    try:
        quiet = parse_quiet_hours(args.quiet_hours) if args.quiet_hours else None
    except ConfigError as err:
        raise CliError(f"--quiet-hours: {err}") from None
    config = NotifyConfig(routes=routes, quiet_hours=quiet,
                          open_app=open_app_command(str(args.db) if args.db else None))
    notifier = Notifier(config, report=_print_report).start()
    if not getattr(args, "json", False):
        for route in routes:
            print(f"notifying {display(route.url)} ({route.min_severity} and worse)",
                  file=sys.stderr, flush=True)
    return notifier


def notify_lifecycle(engine: Any, notifier: Any) -> None:
    """Lifecycle changes (run recovered, finished, failed) go to the notifier too."""
    if notifier is not None:
        from cockpit.notify.notifier import chain_on_lifecycle

        chain_on_lifecycle(engine, notifier.on_lifecycle)


def _print_report(text: str) -> None:
    print(f"cockpit: {text}", file=sys.stderr, flush=True)


def cmd_notify(args: argparse.Namespace) -> int:
    from cockpit.notify.apprise_client import AppriseSender, display
    from cockpit.notify.message import alert_item, open_app_command, sample_alert

    routes = _routes(args.urls, "--test")
    sender = AppriseSender(args.timeout)
    message = alert_item(sample_alert(), socket.gethostname(), open_app_command(None)).message
    failed = 0
    for route in routes:
        result = sender.send(route.url, message)
        if result.ok:
            print(f"sent a sample alert to {display(route.url)}")
        else:
            failed += 1
            print(f"cockpit: could not deliver to {display(route.url)}: {result.reason}",
                  file=sys.stderr)
    return 1 if failed else 0
