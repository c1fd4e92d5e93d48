"""Per-run role overrides: the user says which stored series plays a role (SPEC §3 `series`).

The override is stored in `role_overrides` and the run's `series.role` column is recomputed
at once with the same rules the engine applies (cockpit.model.roles), so `check`, `runs`, the
app and a later `watch` all see it.
"""

from __future__ import annotations

import time

import duckdb

from cockpit.model.roles import ROLES, assign_roles


class RoleOverrideError(ValueError):
    """An override naming an unknown role or a key the run does not log: one sentence."""


def find_run(con: duckdb.DuckDBPyConnection, name_or_id: str) -> tuple[str, str]:
    """(run_id, name) of the run called `name_or_id` (its name, or its id)."""
    rows = con.execute("SELECT run_id, name FROM runs WHERE name = ? OR run_id = ? ORDER BY name",
                       [name_or_id, name_or_id]).fetchall()
    if not rows:
        raise RoleOverrideError(f"no run named {name_or_id!r} in the history")
    if len(rows) > 1:
        raise RoleOverrideError(f"{len(rows)} runs are named {name_or_id!r}; give its run_id "
                                f"({', '.join(r[0] for r in rows)})")
    return str(rows[0][0]), str(rows[0][1])


def set_override(con: duckdb.DuckDBPyConnection, run_id: str, role: str, key: str | None,
                 clear: bool = False) -> None:
    """Make `key` play `role` in the run (None: leave the role unwatched); `clear` goes back
    to the rules. Recomputes the run's `series.role` in the same transaction."""
    if role not in ROLES:
        raise RoleOverrideError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    keys = {str(k) for (k,) in con.execute(
        "SELECT DISTINCT key FROM series WHERE run_id = ?", [run_id]).fetchall()}
    if not clear and key is not None and key not in keys:
        raise RoleOverrideError(f"the run logs no series {key!r}; it logs {', '.join(sorted(keys))}")
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM role_overrides WHERE run_id = ? AND role = ?", [run_id, role])
        if not clear:
            con.execute("INSERT INTO role_overrides VALUES (?, ?, ?, ?)",
                        [run_id, role, key, time.time()])
        recompute_roles(con, run_id)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


def recompute_roles(con: duckdb.DuckDBPyConnection, run_id: str) -> None:
    overrides = dict(con.execute("SELECT role, key FROM role_overrides WHERE run_id = ?",
                                 [run_id]).fetchall())
    keys = [str(k) for (k,) in con.execute(
        "SELECT DISTINCT key FROM series WHERE run_id = ?", [run_id]).fetchall()]
    choices = assign_roles(keys, overrides)
    con.execute("UPDATE series SET role = NULL, role_rule = NULL WHERE run_id = ?", [run_id])
    for choice in choices.values():
        con.execute("UPDATE series SET role = ?, role_rule = ? WHERE run_id = ? AND key = ?",
                    [choice.role, choice.rule, run_id, choice.key])
