"""The SQL schema of tunelab's storage, as SQLAlchemy Core tables."""

from __future__ import annotations

import sqlalchemy as sa

SCHEMA_VERSION = 1

metadata = sa.MetaData()

schema_version = sa.Table(
    "tunelab_schema",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
)

studies = sa.Table(
    "tunelab_studies",
    metadata,
    sa.Column("study_id", sa.Integer, primary_key=True),
    sa.Column("study_name", sa.String(512), nullable=False, unique=True),
    sa.Column("directions", sa.String(512), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

study_attrs = sa.Table(
    "tunelab_study_attrs",
    metadata,
    sa.Column("study_id", sa.Integer, sa.ForeignKey("tunelab_studies.study_id"), primary_key=True),
    sa.Column("system", sa.Boolean, primary_key=True),
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

trials = sa.Table(
    "tunelab_trials",
    metadata,
    sa.Column("trial_id", sa.Integer, primary_key=True),
    sa.Column("study_id", sa.Integer, sa.ForeignKey("tunelab_studies.study_id"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("state", sa.Integer, nullable=False),
    sa.Column("values", sa.Text, nullable=True),
    sa.Column("datetime_start", sa.Float, nullable=True),
    sa.Column("datetime_complete", sa.Float, nullable=True),
    sa.Column("heartbeat", sa.Float, nullable=True),
    sa.UniqueConstraint("study_id", "number", name="uq_tunelab_trials_study_number"),
    sa.Index("ix_tunelab_trials_study_state", "study_id", "state"),
)

trial_params = sa.Table(
    "tunelab_trial_params",
    metadata,
    sa.Column("trial_id", sa.Integer, sa.ForeignKey("tunelab_trials.trial_id"), primary_key=True),
    sa.Column("name", sa.String(512), primary_key=True),
    sa.Column("value", sa.Float, nullable=False),
    sa.Column("distribution", sa.Text, nullable=False),
)

trial_intermediate = sa.Table(
    "tunelab_trial_intermediate",
    metadata,
    sa.Column("trial_id", sa.Integer, sa.ForeignKey("tunelab_trials.trial_id"), primary_key=True),
    sa.Column("step", sa.Integer, primary_key=True),
    # NULL stands for NaN: SQLite cannot store NaN in a REAL column.
    sa.Column("value", sa.Float, nullable=True),
)

trial_attrs = sa.Table(
    "tunelab_trial_attrs",
    metadata,
    sa.Column("trial_id", sa.Integer, sa.ForeignKey("tunelab_trials.trial_id"), primary_key=True),
    sa.Column("system", sa.Boolean, primary_key=True),
    sa.Column("key", sa.String(512), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
