"""`cockpit series RUN`: the run's stored series, the role each plays and why; `--role` and
`--auto` override the role rules for that run (README, "Series and roles")."""

from __future__ import annotations

import argparse

from cockpit.cli.common import add_db_arg, db_path
from cockpit.cli.errors import CliError
from cockpit.cli.output import print_rows
from cockpit.store.db import connect

SERIES_SQL = """
SELECT s.role, s.key, s.canonical, s.source, s.format, s.role_rule,
       (SELECT count(*) FROM metrics m WHERE m.run_id = s.run_id AND m.key = s.key
          AND m.source = s.source) AS points
FROM series s WHERE s.run_id = ?
ORDER BY s.role IS NULL, s.role, s.key, s.source
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("series", help="a run's series, the role each plays, role overrides",
                       description="List the series stored for RUN (a run name or id), the role "
                                   "each plays (loss, val_loss, lr, grad_norm, tokens_per_s, "
                                   "step_time_ms, memory) and the rule that chose it.")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--role", action="append", default=[], metavar="ROLE=KEY",
                   help="make KEY play ROLE for this run (ROLE= with no key: watch none)")
    p.add_argument("--auto", action="append", default=[], metavar="ROLE",
                   help="drop the override of ROLE: the rules choose again")
    p.add_argument("--json", action="store_true")
    add_db_arg(p)
    p.set_defaults(func=cmd_series)


def cmd_series(args: argparse.Namespace) -> int:
    from cockpit.monitor.roles import RoleOverrideError, find_run, set_override

    changes = bool(args.role or args.auto)
    con = connect(db_path(args), read_only=not changes)
    try:
        run_id, _ = find_run(con, args.run)
        for spec in args.role:
            role, sep, key = spec.partition("=")
            if not sep:
                raise CliError(f"--role {spec!r}: write ROLE=KEY (or ROLE= to watch none)")
            set_override(con, run_id, role.strip(), key or None)
        for role in args.auto:
            set_override(con, run_id, role.strip(), None, clear=True)
        cur = con.execute(SERIES_SQL, [run_id])
        columns = [d[0] for d in cur.description]
        rows = cur.fetchall()
    except RoleOverrideError as err:
        raise CliError(str(err)) from None
    finally:
        con.close()
    print_rows("json" if args.json else "table", columns, rows)
    return 0
