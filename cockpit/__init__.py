"""Cockpit: a local-first ML-ops cockpit. The core (everything but cockpit.ui) never imports Qt."""

__version__ = "0.1.0"


def history(sql: str = "SELECT * FROM runs", db: str | None = None,
            params: list[object] | None = None, unsafe: bool = False) -> object:
    """Query the run history from Python (a notebook): a DuckDB relation of the result.

    Works while `cockpit watch` or the app holds the history (their live socket answers).
    `db` defaults to the history `cockpit` uses; `unsafe` allows SQL that reads files.

        import cockpit
        cockpit.history("SELECT key, step, value FROM metrics WHERE key = 'loss'").df()
    """
    from cockpit.store.db import default_db_path
    from cockpit.store.reading import relation

    return relation(db or default_db_path(), sql, params, unsafe)
