"""The SQL text of the storage's statements, built once per database kind.

The storage runs these through the DBAPI connection with bound parameters:
building SQLAlchemy statements on every call cost more than SQLite itself
(issue #2's profile). The text is plain SQL that SQLite and PostgreSQL both
accept; only the transaction start, the row lock, the parameter marker and the
way a new row's id comes back differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from tunelab.storage import _schema as s
from tunelab.trial import TrialState

_RUNNING = int(TrialState.RUNNING)
_WAITING = int(TrialState.WAITING)
_FAIL = int(TrialState.FAIL)
_OPEN = f"state IN ({_RUNNING}, {_WAITING})"

_STUDIES = s.studies.name
_STUDY_ATTRS = s.study_attrs.name
_TRIALS = s.trials.name
_PARAMS = s.trial_params.name
_STEPS = s.trial_intermediate.name
_ATTRS = s.trial_attrs.name

# A write into a trial carries its own "is it still open?" test, so the common
# case is one statement; only a miss is looked at more closely.
_IF_OPEN = f"WHERE EXISTS (SELECT 1 FROM {_TRIALS} WHERE trial_id = ? AND {_OPEN})"
# PostgreSQL types a bare parameter in a SELECT list as text; these columns are not text.
_FLOAT = "CAST(? AS DOUBLE PRECISION)"


@dataclass(frozen=True)
class LoadStatements:
    """The four reads that rebuild the trials matching one condition.

    Columns: ``trials`` (trial_id, number, state, values, datetime_start,
    datetime_complete), ``params`` (trial_id, name, value, distribution),
    ``steps`` (trial_id, step, value), ``attrs`` (trial_id, system, key, value).
    """

    trials: str
    params: str
    steps: str
    attrs: str


class Statements:
    """Every statement of the storage, in one database's parameter style.

    Attributes:
        returning: Whether INSERT ... RETURNING gives back new ids (PostgreSQL);
            on SQLite the storage reads ``cursor.lastrowid``, which every
            version has (RETURNING needs SQLite 3.35).
        autocommit_single: Whether an idempotent one-statement write runs
            without BEGIN/COMMIT: PostgreSQL commits it on its own, saving two
            round trips, while SQLite writes take the write lock up front with
            BEGIN IMMEDIATE so that they queue instead of failing.
    """

    def __init__(self, backend: str) -> None:
        postgres = backend == "postgresql"
        self.mark = "%s" if postgres else "?"
        self.returning = postgres
        self.autocommit_single = postgres
        self.begin_write = "BEGIN" if postgres else "BEGIN IMMEDIATE"
        self.begin_read = "BEGIN"
        self._init_studies(lock=" FOR UPDATE" if postgres else "")
        self._init_trials()
        self._init_trial_writes()
        self.load_one = self._load("trial_id = ?", by_subquery=False)

    def _init_studies(self, lock: str) -> None:
        st = self._style
        self.study_id_by_name = st(f"SELECT study_id FROM {_STUDIES} WHERE study_name = ?")
        self.study_row = st(f"SELECT study_name, directions FROM {_STUDIES} WHERE study_id = ?")
        # Trial numbers are assigned under this lock (SQLite's write lock does the same).
        self.lock_study = st(f"SELECT study_id FROM {_STUDIES} WHERE study_id = ?{lock}")
        self.insert_study = st(
            f"INSERT INTO {_STUDIES} (study_name, directions, created_at) VALUES (?, ?, ?)"
            + (" RETURNING study_id" if self.returning else "")
        )
        self.all_studies = (
            f"SELECT study_id, study_name, directions FROM {_STUDIES} ORDER BY study_id"
        )
        self.study_counts = (
            f"SELECT study_id, count(*), min(datetime_start) FROM {_TRIALS} GROUP BY study_id"
        )
        owned = f"trial_id IN (SELECT trial_id FROM {_TRIALS} WHERE study_id = ?)"
        self.delete_study = tuple(
            st(sql)
            for sql in (
                f"DELETE FROM {_PARAMS} WHERE {owned}",
                f"DELETE FROM {_STEPS} WHERE {owned}",
                f"DELETE FROM {_ATTRS} WHERE {owned}",
                f"DELETE FROM {_TRIALS} WHERE study_id = ?",
                f"DELETE FROM {_STUDY_ATTRS} WHERE study_id = ?",
                f"DELETE FROM {_STUDIES} WHERE study_id = ?",
            )
        )
        self.study_attrs = st(
            f"SELECT key, value FROM {_STUDY_ATTRS} WHERE study_id = ? AND system = ?"
        )
        self.upsert_study_attr = st(
            f"INSERT INTO {_STUDY_ATTRS} (study_id, system, key, value) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (study_id, system, key) DO UPDATE SET value = excluded.value"
        )

    def _init_trials(self) -> None:
        st = self._style
        columns = "(study_id, number, state, datetime_start, heartbeat)"
        self.next_number = st(
            f"SELECT coalesce(max(number) + 1, 0) FROM {_TRIALS} WHERE study_id = ?"
        )
        self.insert_trial = st(f"INSERT INTO {_TRIALS} {columns} VALUES (?, ?, ?, ?, ?)")
        # One round trip on PostgreSQL: the number is computed by the INSERT itself,
        # in a statement that starts after the study row was locked.
        self.insert_next_trial = st(
            f"INSERT INTO {_TRIALS} {columns} "
            f"SELECT ?, coalesce(max(number) + 1, 0), ?, {_FLOAT}, {_FLOAT} "
            f"FROM {_TRIALS} WHERE study_id = ? RETURNING trial_id, number"
        )
        self.insert_trial_attr = st(
            f"INSERT INTO {_ATTRS} (trial_id, system, key, value) VALUES (?, ?, ?, ?)"
        )
        self.waiting_trial = st(
            f"SELECT trial_id FROM {_TRIALS} WHERE study_id = ? AND state = {_WAITING} "
            "ORDER BY trial_id LIMIT 1"
        )
        self.count_not_failed = st(
            f"SELECT count(*) FROM {_TRIALS} WHERE study_id = ? AND state <> {_FAIL}"
        )
        self.claim_trial = st(
            f"UPDATE {_TRIALS} SET state = {_RUNNING}, datetime_start = ?, heartbeat = ? "
            f"WHERE trial_id = ? AND state = {_WAITING}"
        )
        self.trial_state = st(f"SELECT state, number FROM {_TRIALS} WHERE trial_id = ?")
        self.trial_id_by_number = st(
            f"SELECT trial_id FROM {_TRIALS} WHERE study_id = ? AND number = ?"
        )
        self.stale_trials = st(
            f"SELECT trial_id FROM {_TRIALS} WHERE study_id = ? AND state = {_RUNNING} "
            "AND heartbeat < ? ORDER BY trial_id"
        )
        self.fail_stale = st(
            f"UPDATE {_TRIALS} SET state = {_FAIL}, datetime_complete = ? "
            f"WHERE trial_id = ? AND state = {_RUNNING} AND heartbeat < ?"
        )

    def _init_trial_writes(self) -> None:
        st = self._style
        self.upsert_param = st(
            f"INSERT INTO {_PARAMS} (trial_id, name, value, distribution) "
            f"SELECT ?, ?, {_FLOAT}, ? {_IF_OPEN} "
            "ON CONFLICT (trial_id, name) DO UPDATE "
            "SET value = excluded.value, distribution = excluded.distribution"
        )
        # A NULL stamp leaves the column as it was.
        self.set_state = st(
            f'UPDATE {_TRIALS} SET state = ?, "values" = ?, '
            f"datetime_start = coalesce({_FLOAT}, datetime_start), "
            f"heartbeat = coalesce({_FLOAT}, heartbeat), "
            f"datetime_complete = coalesce({_FLOAT}, datetime_complete) "
            f"WHERE trial_id = ? AND {_OPEN}"
        )
        self.upsert_open_attr = st(
            f"INSERT INTO {_ATTRS} (trial_id, system, key, value) SELECT ?, ?, ?, ? {_IF_OPEN} "
            "ON CONFLICT (trial_id, system, key) DO UPDATE SET value = excluded.value"
        )
        self.upsert_attr = st(
            f"INSERT INTO {_ATTRS} (trial_id, system, key, value) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (trial_id, system, key) DO UPDATE SET value = excluded.value"
        )
        self.upsert_step = st(
            f"INSERT INTO {_STEPS} (trial_id, step, value) SELECT ?, ?, {_FLOAT} {_IF_OPEN} "
            "ON CONFLICT (trial_id, step) DO UPDATE SET value = excluded.value"
        )

    def marks(self, count: int) -> str:
        """``count`` comma-separated parameter markers, for an IN list."""
        return ", ".join([self.mark] * count)

    def heartbeat(self, count: int) -> str:
        """Stamp the heartbeat of ``count`` running trials (parameters: stamp, ids)."""
        return (
            f"UPDATE {_TRIALS} SET heartbeat = {self.mark} WHERE state = {_RUNNING} "
            f"AND trial_id IN ({self.marks(count)})"
        )

    def load_changed(self, n_open: int) -> LoadStatements:
        """Reads of a study's trials past a number or among ``n_open`` ids.

        Parameters: study id, the last number read, then the ``n_open`` ids.
        Both tests are index searches (the study's numbers, the primary key),
        so a read costs what changed, not the length of the history.
        """
        where = "study_id = ? AND number > ?"
        if n_open:
            where = f"({where}) OR trial_id IN ({', '.join(['?'] * n_open)})"
        return self._load(where, by_subquery=True)

    def _load(self, where: str, *, by_subquery: bool) -> LoadStatements:
        owned = f"trial_id IN (SELECT trial_id FROM {_TRIALS} WHERE {where})"
        child = owned if by_subquery else where
        columns = 'trial_id, number, state, "values", datetime_start, datetime_complete'
        return LoadStatements(
            trials=self._style(f"SELECT {columns} FROM {_TRIALS} WHERE {where} ORDER BY number"),
            params=self._style(
                f"SELECT trial_id, name, value, distribution FROM {_PARAMS} WHERE {child}"
            ),
            steps=self._style(f"SELECT trial_id, step, value FROM {_STEPS} WHERE {child}"),
            attrs=self._style(f"SELECT trial_id, system, key, value FROM {_ATTRS} WHERE {child}"),
        )

    def _style(self, sql: str) -> str:
        return sql.replace("?", self.mark)
