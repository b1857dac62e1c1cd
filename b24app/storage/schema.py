"""Tables. Only portable constructs: the same schema runs on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

portals = sa.Table(
    "b24_portals",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("member_id", sa.String(64), nullable=False, unique=True),
    sa.Column("domain", sa.String(255), nullable=False),
    sa.Column("scheme", sa.String(8), nullable=False, server_default="https"),
    sa.Column("client_endpoint", sa.String(512), nullable=False),
    sa.Column("server_endpoint", sa.String(512), nullable=False),
    # "hmac-sha256:<key id>:<hex>", a keyed hash (b24app.security.TokenCipher.digest): the
    # app only ever compares it, so the token itself is never stored
    sa.Column("application_token", sa.String(128), nullable=True),
    sa.Column("language", sa.String(8), nullable=True),
    sa.Column("phone_region", sa.String(4), nullable=True),
    # new -> installed -> uninstalled; need_reinstall when set-up never completed
    sa.Column("state", sa.String(20), nullable=False, server_default="new"),
    # when ``state`` last changed (NULL on rows from before: created_at stands in)
    sa.Column("state_changed_at", sa.Float, nullable=True),
    sa.Column("app_version", sa.String(32), nullable=True),
    sa.Column("setup_error", sa.Text, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("installed_at", sa.Float, nullable=True),
    # set when the portal's OAuth server answered invalid_client (app_credentials_invalid)
    sa.Column("credentials_rejected_at", sa.Float, nullable=True),
)

# App-wide alarms an operator must see, e.g. our own client credentials being refused.
alarms = sa.Table(
    "b24_alarms",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    # which credentials the alarm is about (a hash, never the secret): new ones void it
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("raised_at", sa.Float, nullable=False),
)

tokens = sa.Table(
    "b24_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("portal_id", sa.Integer, sa.ForeignKey("b24_portals.id"), nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    # Fernet ciphertexts (b24app.security.TokenCipher), never the tokens themselves
    sa.Column("access_token", sa.Text, nullable=False),
    sa.Column("refresh_token", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("scope", sa.String(512), nullable=True),
    sa.Column("is_installer", sa.Boolean, nullable=False, server_default=sa.false()),
    # bumped on every store: refreshes compare-and-swap on it so a stale pair never wins
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.Column("status", sa.String(24), nullable=False, server_default="active"),
    # a refresh lease: whoever sets it refreshes; the others wait for the new version
    sa.Column("lock_owner", sa.String(64), nullable=True),
    sa.Column("lock_until", sa.Float, nullable=True),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.UniqueConstraint("portal_id", "user_id", name="uq_b24_tokens_portal_user"),
)

jobs = sa.Table(
    "b24_jobs",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("portal_id", sa.Integer, sa.ForeignKey("b24_portals.id"), nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # scan | merge
    sa.Column("entity_type_id", sa.Integer, nullable=False),
    sa.Column("params", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # queued|running|done|failed|cancelled
    sa.Column("progress_done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("progress_total", sa.Integer, nullable=True),
    sa.Column("groups_total", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("stats", sa.JSON, nullable=True),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("claimed_by", sa.String(64), nullable=True),
    sa.Column("heartbeat_at", sa.Float, nullable=True),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Index("ix_b24_jobs_status", "status", "created_at"),
    sa.Index("ix_b24_jobs_portal", "portal_id", "user_id", "created_at"),
)

# Found groups of a scan, and pairs that share a value but whose names disagree.
scan_groups = sa.Table(
    "b24_scan_groups",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("job_id", sa.String(32), sa.ForeignKey("b24_jobs.id"), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # group | shared
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("entity_ids", sa.JSON, nullable=False),
    sa.Column("matched_on", sa.JSON, nullable=False),
    sa.Column("members", sa.JSON, nullable=False),  # what the UI shows of each record
    sa.Index("ix_b24_scan_groups_job", "job_id", "kind", "position"),
)

# One row per group of a merge job: the intent before the call, the result after it.
merge_items = sa.Table(
    "b24_merge_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("job_id", sa.String(32), sa.ForeignKey("b24_jobs.id"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("entity_ids", sa.JSON, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # pending|calling|SUCCESS|CONFLICT|ERROR
    sa.Column("kept_id", sa.Integer, nullable=True),
    sa.Column("merged_ids", sa.JSON, nullable=True),
    sa.Column("manual_merge_url", sa.String(1024), nullable=True),
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    # when the intent (status calling) was recorded: a resumed job checks the group at the
    # portal only once a call sent then can no longer be running there
    sa.Column("called_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
    sa.Index("ix_b24_merge_items_job", "job_id", "position"),
)

# An ID held by a queued or running merge job; the primary key makes a second claim fail.
merge_claims = sa.Table(
    "b24_merge_claims",
    metadata,
    sa.Column("portal_id", sa.Integer, primary_key=True),
    sa.Column("entity_type_id", sa.Integer, primary_key=True),
    sa.Column("entity_id", sa.Integer, primary_key=True),
    sa.Column("job_id", sa.String(32), sa.ForeignKey("b24_jobs.id"), nullable=False),
)

# OAuth ``state`` values issued for the code flow: stored hashed, single use, expiring.
oauth_states = sa.Table(
    "b24_oauth_states",
    metadata,
    sa.Column("state_hash", sa.String(64), primary_key=True),
    sa.Column("portal_id", sa.Integer, sa.ForeignKey("b24_portals.id"), nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("used_at", sa.Float, nullable=True),
)

# Groups a person judged "not duplicates": later scans of the portal do not propose them again.
not_duplicates = sa.Table(
    "b24_not_duplicates",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("portal_id", sa.Integer, sa.ForeignKey("b24_portals.id"), nullable=False),
    sa.Column("entity_type_id", sa.Integer, nullable=False),
    # the sorted IDs joined with commas: one mark per set of records
    sa.Column("ids_key", sa.String(1024), nullable=False),
    sa.Column("entity_ids", sa.JSON, nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.UniqueConstraint("portal_id", "entity_type_id", "ids_key", name="uq_b24_not_duplicates"),
)

# Every merge outcome the app recorded for a portal, kept until it uninstalls with CLEAN.
merge_history = sa.Table(
    "b24_merge_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("portal_id", sa.Integer, sa.ForeignKey("b24_portals.id"), nullable=False),
    sa.Column("job_id", sa.String(32), nullable=False),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("user_name", sa.String(255), nullable=True),
    sa.Column("entity_type_id", sa.Integer, nullable=False),
    sa.Column("entity_ids", sa.JSON, nullable=False),
    sa.Column("kept_id", sa.Integer, nullable=True),
    sa.Column("merged_ids", sa.JSON, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),  # SUCCESS | CONFLICT | ERROR
    sa.Column("error_code", sa.String(64), nullable=True),
    sa.Column("manual_merge_url", sa.String(1024), nullable=True),
    sa.Column("finished_at", sa.Float, nullable=False),
    sa.Index("ix_b24_merge_history_portal", "portal_id", "finished_at"),
)

# The leaky bucket of one portal as this app sees it, shared by every thread and process.
# Written with compare-and-swap on ``version``.
rate_buckets = sa.Table(
    "b24_rate_buckets",
    metadata,
    sa.Column("portal", sa.String(255), primary_key=True),  # the portal's REST endpoint
    sa.Column("burst", sa.Integer, nullable=False),
    sa.Column("drain", sa.Float, nullable=False),
    sa.Column("level", sa.Float, nullable=False),
    sa.Column("level_at", sa.Float, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

# One method's operating-time budget on one portal: the last ``time`` block seen, what calls in
# flight have reserved, and a pause after a 429. Written with compare-and-swap on ``version``.
method_budgets = sa.Table(
    "b24_method_budgets",
    metadata,
    sa.Column("portal", sa.String(255), primary_key=True),
    sa.Column("method", sa.String(128), primary_key=True),
    sa.Column("operating", sa.Float, nullable=False),
    sa.Column("reset_at", sa.Float, nullable=False),
    sa.Column("observed_at", sa.Float, nullable=False),
    sa.Column("cost", sa.Float, nullable=False),
    sa.Column("reserved", sa.Float, nullable=False),
    sa.Column("reserved_at", sa.Float, nullable=False),
    sa.Column("blocked_until", sa.Float, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
)

# Frame POSTs the OAuth server's app.info confirmed, kept for the lifetime of the token, so that
# reopening the app costs no round trip in any process. Keyed by a keyed hash of the token with
# the member_id and domain it was confirmed for; only confirmations of installed apps are kept.
verified_tokens = sa.Table(
    "b24_verified_tokens",
    metadata,
    sa.Column("token_digest", sa.String(128), primary_key=True),
    sa.Column("user_id", sa.Integer, nullable=False),
    sa.Column("member_id", sa.String(64), nullable=False),
    sa.Column("domain", sa.String(255), nullable=False),
    sa.Column("client_endpoint", sa.String(512), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Index("ix_b24_verified_tokens_expiry", "expires_at"),
    sa.Index("ix_b24_verified_tokens_member", "member_id"),
)

# The task queue's own storage when no REDIS_URL is set (b24app.storage.queue, a huey storage):
# messages saying "run job X", delayed messages, huey's key/value data and its counters. The
# job rows above stay the source of truth; a message lost or repeated here changes nothing.
queue_tasks = sa.Table(
    "b24_queue_tasks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("queue", sa.String(64), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("priority", sa.Float, nullable=False, server_default="0"),
    sa.Index("ix_b24_queue_tasks_order", "queue", "priority", "id"),
)

queue_schedule = sa.Table(
    "b24_queue_schedule",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("queue", sa.String(64), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("run_at", sa.Float, nullable=False),
    sa.Index("ix_b24_queue_schedule_due", "queue", "run_at"),
)

queue_kv = sa.Table(
    "b24_queue_kv",
    metadata,
    sa.Column("queue", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.LargeBinary, nullable=False),
)

queue_counters = sa.Table(
    "b24_queue_counters",
    metadata,
    sa.Column("queue", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("value", sa.Integer, nullable=False),
)

# Events the app acted on, one row per (member, event, record, ts): the primary key makes a
# repeated delivery's claim fail in every process. Kept two days (retries last up to one).
event_deliveries = sa.Table(
    "b24_event_deliveries",
    metadata,
    sa.Column("member_id", sa.String(64), primary_key=True),
    sa.Column("event", sa.String(64), primary_key=True),
    sa.Column("entity_id", sa.String(64), primary_key=True),  # data[FIELDS][ID], "" if none
    sa.Column("ts", sa.String(32), primary_key=True),
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Index("ix_b24_event_deliveries_received", "received_at"),
)
