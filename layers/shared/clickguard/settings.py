"""Names and defaults in one place: S3 layout, environment variable names, model parameters.

Infra, handlers, the trainer and the local runtime all import from here so that a renamed prefix or a changed
default cannot drift between the writer and the reader.
"""

from __future__ import annotations

# --- S3 layout ---------------------------------------------------------------------------------------------------
MODELS_PREFIX = "models/"
LATEST_POINTER_KEY = "models/latest.json"
ARCHIVE_PREFIX = "events/"  # Firehose writes <prefix>YYYY/MM/DD/HH/<objects>.gz
# Each archive object's name starts with its oldest record's arrival as minutes, seconds and milliseconds (a Java
# DateTimeFormatter pattern in the Firehose prefix; ``local.archiver`` writes the same), so key order is write order.
ARCHIVE_ARRIVAL_PATTERN = "mmssSSS"
REJECTED_PREFIX = "rejected/"  # consumer's sink: one metadata object per record, rejected/YYYY/MM/DD/<shard>/<seq>.json
# Raw payloads of rejected records, only where configured (they may hold personal data): a short expiry of their own.
REJECTED_PAYLOAD_PREFIX = "rejected-payloads/"
DEFAULT_REJECTED_PAYLOAD_EXPIRY_DAYS = 7
LABELS_PREFIX = "labels/"  # reviewers' decisions, fed back into training
# The review loop (clickguard.review): one object per decision under the labels the trainer reads; the allow-list
# the consumer re-checks with a conditional GET; malformed decision messages, kept for an operator (never labels).
DECISIONS_PREFIX = "labels/decisions/"
ALLOWLIST_KEY = "review/allowlist.json"
REJECTED_DECISIONS_PREFIX = "review/rejected/"
# An allowed user stays unflagged for the same reasons this long, unless the behaviour gets stronger by the margin
# (a relative increase of the flag's strength, ``clickguard.review.strength``): 25% more than what was allowed.
DEFAULT_ALLOWLIST_DAYS = 30
DEFAULT_ALLOW_MARGIN = 0.25

# --- event schema limits ----------------------------------------------------------------------------------------
MAX_USER_KEY_CHARS = 256
MAX_EVENT_TYPE_CHARS = 128
# A clickstream event is well under 4 KiB even with the nested envelope; 64 KiB leaves room for large attribute
# bags while keeping a single hostile record from costing the consumer a megabyte of parsing.
MAX_RECORD_BYTES = 64 * 1024

# --- producer formats (clickguard.decoding), read by the consumer and the archive transformation at cold start ---
ENV_INPUT_FORMATS = "CLICKGUARD_INPUT_FORMATS"  # comma-separated; default: every format
ENV_FIELD_MAPPING = "CLICKGUARD_FIELD_MAPPING"  # JSON (clickguard.decoding.mapping); default: none
ENV_MAX_DECOMPRESSED_BYTES = "CLICKGUARD_MAX_DECOMPRESSED_BYTES"
# A gzip/zlib record inflates to at most this: 8 MiB holds a full 1 MiB Kinesis record of NDJSON compressed 8:1,
# and bounds what a decompression bomb can cost (it is rejected, never inflated further).
DEFAULT_MAX_DECOMPRESSED_BYTES = 8 * 1024 * 1024
MAX_DECOMPRESSED_BYTES_RANGE = (64 * 1024, 64 * 1024 * 1024)
# A record with no time at all: ``arrival`` times it by its arrival on the stream, ``reject`` rejects it.
ENV_MISSING_TIME = "CLICKGUARD_MISSING_TIME"
# A date of slashes with two numbers up to 12 (5/6/2024): ``told`` refuses it, ``day_first`` / ``month_first`` read it.
ENV_DATE_ORDER = "CLICKGUARD_DATE_ORDER"
# The Firehose transformation that writes the archive with the consumer's decoder (lambdas/archive_transform).
ARCHIVE_TRANSFORM_SERVICE = "clickguard-archive-transform"
ARCHIVE_TRANSFORM_ASSET_DIR = "lambdas/archive_transform"
ARCHIVE_TRANSFORM_HANDLER = "handler.lambda_handler"
METRIC_EVENTS_ARCHIVED = "EventsArchived"
METRIC_ARCHIVE_RECORDS_FAILED = "ArchiveRecordsFailed"  # handed back to Firehose: its error prefix, not events/

# --- model defaults ---------------------------------------------------------------------------------------------
DEFAULT_MAX_STATES = 512
DEFAULT_MIN_TOKEN_COUNT = 5
# Additive (Lidstone) smoothing per cell. The thesis used 10 pseudocounts on ~336 states; 0.5 keeps unseen
# transitions possible without flattening rows that have only a few hundred observations.
DEFAULT_SMOOTHING = 0.5
DEFAULT_SESSION_GAP_SECONDS = 30 * 60
# Events a session (or a user's day) needs before it is judged: the thesis's 3 (seed 000 scores after 3 events).
# Measured against 5 on the quality grid (seeds 1-5, confirmed on 6-10): abusers who split their abuse into short
# visits are judged at all, mean AP +0.01..+0.03 on the random mix, within noise on the default one.
DEFAULT_MIN_EVENTS = 3
# Events a session needs before behaviour groups profile it (the groups' first checkpoint): with fewer, a profile is
# mostly the smoothing prior (seed 001's caveat on partial sessions), so it stays at the 5 the groups were built on.
PROFILE_MIN_EVENTS = 5
DEFAULT_MEAN_BITS_QUANTILE = 0.995
DEFAULT_TOTAL_BITS_QUANTILE = 0.998
# Largest share of a window's transition counts, and of its calibration sessions, that one user may hold. One user
# then moves the learnt distribution of transitions by at most this much (total variation) and any calibrated
# quantile by at most this much in rank: 1% keeps a bot's flood from becoming "normal" while a window of thousands
# of ordinary users, where nobody comes near 1%, trains exactly as without a cap. 1.0 switches the cap off.
DEFAULT_MAX_USER_SHARE = 0.01
# Detector v2's operating point (``model.operating``): without labels the cut flags ``DEFAULT_ALERT_BUDGET`` of the
# window's users (20 flags a day per 1,000 active users: what a small review team can read); with labels, the lowest
# cut whose held-out precision (a 90% lower bound) reaches ``DEFAULT_TARGET_PRECISION``, flagging at most
# ``DEFAULT_MAX_FLAG_SHARE`` of the users.
DEFAULT_ALERT_BUDGET = 0.02
DEFAULT_TARGET_PRECISION = 0.8
DEFAULT_MAX_FLAG_SHARE = 0.25
DEFAULT_WINDOW_DAYS = 7
DEFAULT_MIN_SESSIONS = 100
# Distributed training (issue 13, ``clickguard.training.distributed``): the per-partition partials are cached in the
# data bucket next to the archive, a run's state between its Step Functions steps beside them. A window whose
# archive objects hold more than ``DEFAULT_SINGLE_PASS_MAX_MB`` of gzip is trained as a map over its hour partitions
# and passes over ``DEFAULT_TRAINING_SHARDS`` user shards; a smaller one in one pass.
PARTIALS_PREFIX = "training-partials/"
TRAINING_RUNS_PREFIX = "training-runs/"
DEFAULT_TRAINING_SHARDS = 64
DEFAULT_SINGLE_PASS_MAX_MB = 64  # 1.5-6 M events (11-40 bytes each gzipped): the single pass needs ~0.9 GB a million
TRAINING_SHARDS_RANGE = (1, 4096)
ARCHIVE_FETCH_THREADS = 8  # S3 GETs of archive objects in flight per reader (latency-bound)
# Accumulated surprisal is kept as integer micro-bits: integer sums are associative, so any split of a stream into
# batches gives bit-identical state (and DynamoDB stores it exactly as a Number).
MICROBITS_PER_BIT = 1_000_000
# Inclusive range of each model parameter, written once: ModelParams.validate, the synth (infra/config.py), the
# trainer's environment and the CLI all check against these.
MODEL_PARAM_RANGES: dict[str, tuple[float, float]] = {
    "window_days": (1, 365),
    "min_sessions": (1, 10**9),
    "max_states": (3, 100_000),
    "min_token_count": (1, 10**9),
    "smoothing": (1e-9, 1000.0),
    "session_gap_seconds": (1, 7 * 86400),
    "min_events": (1, 10_000),
    "mean_bits_quantile": (0.5, 0.999999),
    "total_bits_quantile": (0.5, 0.999999),
    "max_user_share": (1e-6, 1.0),
    "alert_budget": (0.0, 0.5),
    "target_precision": (0.05, 1.0),
    "max_flag_share": (0.0, 1.0),
}

# --- environment variable names (validated at cold start by each handler) ---------------------------------------
ENV_DATA_BUCKET = "CLICKGUARD_DATA_BUCKET"
ENV_MODEL_BUCKET = "CLICKGUARD_MODEL_BUCKET"
ENV_ARCHIVE_PREFIX = "CLICKGUARD_ARCHIVE_PREFIX"
ENV_WINDOW_DAYS = "CLICKGUARD_WINDOW_DAYS"
ENV_MIN_SESSIONS = "CLICKGUARD_MIN_SESSIONS"
ENV_MAX_STATES = "CLICKGUARD_MAX_STATES"
ENV_MIN_TOKEN_COUNT = "CLICKGUARD_MIN_TOKEN_COUNT"  # noqa: S105 - not a secret
ENV_SMOOTHING = "CLICKGUARD_SMOOTHING"
ENV_SESSION_GAP_SECONDS = "CLICKGUARD_SESSION_GAP_SECONDS"
ENV_MIN_EVENTS = "CLICKGUARD_MIN_EVENTS"
ENV_MEAN_BITS_QUANTILE = "CLICKGUARD_MEAN_BITS_QUANTILE"
ENV_TOTAL_BITS_QUANTILE = "CLICKGUARD_TOTAL_BITS_QUANTILE"
ENV_MAX_USER_SHARE = "CLICKGUARD_MAX_USER_SHARE"
ENV_ALERT_BUDGET = "CLICKGUARD_ALERT_BUDGET"
ENV_TARGET_PRECISION = "CLICKGUARD_TARGET_PRECISION"
ENV_MAX_FLAG_SHARE = "CLICKGUARD_MAX_FLAG_SHARE"
ENV_USER_KEY_SOURCE = "CLICKGUARD_USER_KEY_SOURCE"
ENV_TRAINING_SHARDS = "CLICKGUARD_TRAINING_SHARDS"
ENV_SINGLE_PASS_MAX_MB = "CLICKGUARD_SINGLE_PASS_MAX_MB"  # noqa: S105 - not a secret

METRICS_NAMESPACE = "Clickguard"
# Powertools service names; the stack sets POWERTOOLS_SERVICE_NAME to these plus the stage, so several stages in
# one account keep separate metrics (the ``service`` dimension) and dashboards.
CONSUMER_SERVICE = "clickguard-consumer"
TRAINER_SERVICE = "clickguard-trainer"
DECISIONS_SERVICE = "clickguard-decisions"
SCORE_API_SERVICE = "clickguard-score-api"
TRAINING_MAP_SERVICE = "clickguard-training-map"  # distributed training (issue 13); its reduce reports as the trainer
TRAINING_SHARD_SERVICE = "clickguard-training-shard"
# Custom metric names (dimension ``service``), emitted by the handlers and graphed / alarmed on by
# infra/components/monitoring.py: one definition, so a renamed metric cannot leave a dashboard empty.
METRIC_RECORDS_IN = "RecordsIn"
METRIC_RECORDS_REJECTED = "RecordsRejected"  # also emitted per reason with a ``reason`` dimension
METRIC_RECORDS_UNSCORED = "RecordsUnscored"
METRIC_EVENTS_IN = "EventsIn"  # the records' events and rejected parts: applied + rejected + replayed + copies + late
METRIC_EVENTS_APPLIED = "EventsApplied"  # events past decoding and admission: into the users' sessions and scores
METRIC_RECORDS_INTERNAL_ERROR = "RecordsInternalError"  # a record the consumer failed on (a bug): kept in the sink
METRIC_RECORDS_CLAMPED = "RecordsClamped"  # event times clamped to arrival + the allowed skew
METRIC_FLAGS_SENT = "FlagsSent"
METRIC_RECORDS_REPLAYED = "RecordsReplayed"  # a retried or overlapping batch's records already applied
METRIC_DUPLICATE_EVENT_IDS = "DuplicateEventIds"  # copies of an event with an id (events.copy_key)
METRIC_LATE_RECORDS = "LateRecords"  # events of a session that had already closed
METRIC_RECORDS_TIMED_BY_ARRIVAL = "RecordsTimedByArrival"  # events with no time, read at their arrival
METRIC_FLAGS_SUPPRESSED = "FlagsSuppressed"  # flags of users reviewers allowed
METRIC_PURCHASE_FLAGS_SENT = "PurchaseFlagsSent"  # seed 003's purchase flags
METRIC_USERS_IN_BATCH = "UsersInBatch"
METRIC_DYNAMODB_CALLS = "DynamoDBCalls"
METRIC_BATCH_DURATION = "BatchDuration"
METRIC_MODEL_AGE = "ModelAge"
METRIC_MODEL_PUBLISHED = "ModelPublished"
METRIC_MODEL_SKIPPED = "ModelSkipped"
METRIC_TRAINING_SECONDS = "TrainingSeconds"
METRIC_EVENTS_READ = "EventsRead"
METRIC_SESSIONS = "Sessions"
METRIC_LINES_REJECTED = "LinesRejected"
METRIC_VOCABULARY_SIZE = "VocabularySize"
METRIC_PARTITIONS_MAPPED = "PartitionsMapped"  # archive hours decoded into partials (the rest were cached)
METRIC_DECISIONS_RECORDED = "DecisionsRecorded"  # also per decision, with a ``decision`` dimension
METRIC_DECISIONS_REJECTED = "DecisionsRejected"  # malformed decision messages, kept under REJECTED_DECISIONS_PREFIX
METRIC_SCORE_REQUESTS = "ScoreRequests"  # POST /score (clickguard.api): every request answered
METRIC_SCORE_REFUSED = "ScoreRefused"  # answered 4xx (also per reason, with a ``reason`` dimension)
METRIC_SCORE_UNAVAILABLE = "ScoreUnavailable"  # answered 503: no model yet, or the session table unreadable
METRIC_SCORE_LATENCY = "ScoreLatency"  # milliseconds inside the handler

# consumer
ENV_TABLE_NAME = "CLICKGUARD_TABLE_NAME"
ENV_FLAG_QUEUE_URL = "CLICKGUARD_FLAG_QUEUE_URL"
ENV_MODEL_REFRESH_SECONDS = "CLICKGUARD_MODEL_REFRESH_SECONDS"
ENV_FLAG_COOLDOWN_SECONDS = "CLICKGUARD_FLAG_COOLDOWN_SECONDS"
ENV_STATE_TTL_DAYS = "CLICKGUARD_STATE_TTL_DAYS"
ENV_REJECTED_PREFIX = "CLICKGUARD_REJECTED_PREFIX"
ENV_REJECTED_PAYLOAD_PREFIX = "CLICKGUARD_REJECTED_PAYLOAD_PREFIX"
# Which rejected records keep their raw payload: none, internal_error (records the consumer failed on), or all.
ENV_KEEP_REJECTED_PAYLOADS = "CLICKGUARD_KEEP_REJECTED_PAYLOADS"
DEFAULT_KEEP_REJECTED_PAYLOADS = "internal_error"
# How session states are written: "batch" (BatchWriteItem, 25 a call) or "conditional" (PutItem per user, only if
# the stored version is the one read: an older state can never replace a newer one, at 25 times the calls).
ENV_STATE_WRITES = "CLICKGUARD_STATE_WRITES"
DEFAULT_STATE_WRITES = "batch"
DEFAULT_MODEL_REFRESH_SECONDS = 60
DEFAULT_FLAG_COOLDOWN_SECONDS = 24 * 3600
DEFAULT_STATE_TTL_DAYS = 7
# Behaviour groups (seed 001, clickguard.model.groups): sessions that fit no training group are counted per
# signature and hour; a signature whose users in one hour reach max(min_users, growth x its training-window peak)
# raises one group flag (the campaign alert).
CAMPAIGN_BUCKET_SECONDS = 3600
ENV_CAMPAIGN_MIN_USERS = "CLICKGUARD_CAMPAIGN_MIN_USERS"
ENV_CAMPAIGN_GROWTH = "CLICKGUARD_CAMPAIGN_GROWTH"
DEFAULT_CAMPAIGN_MIN_USERS = 20
DEFAULT_CAMPAIGN_GROWTH = 4.0
CAMPAIGN_RANGES: dict[str, tuple[float, float]] = {"campaign_min_users": (2, 10_000), "campaign_growth": (1.0, 1000.0)}
# Session-state table schema: infra creates it with these names, the consumer reads and writes them.
SESSION_TABLE_KEY = "user_key"  # partition key (S), no sort key
SESSION_TABLE_TTL_ATTRIBUTE = "expires_at"  # epoch seconds

# --- purchases far above the buyer's social network (seed 003, clickguard.network) -------------------------------
# D (degree of the buyer's network) and T (purchases in its baseline). Upper bounds keep a purchase's cost and the
# items bounded: about k**D users are read per purchase for a typical degree k, and a purchases item holds T
# entries of about 100 bytes; a friends item holds at most max_friends keys of up to 256 characters (400 KB item).
NETWORK_PARAM_RANGES: dict[str, tuple[int, int]] = {"degree": (1, 4), "window": (2, 1000), "max_friends": (1, 1500)}
DEFAULT_NETWORK_DEGREE = 2
DEFAULT_NETWORK_WINDOW = 50
DEFAULT_NETWORK_MAX_FRIENDS = 1000
# Event types that carry the social network; clickguard's canonical events put the amount in attributes.amount and
# the other user in attributes.friend_id.
DEFAULT_PURCHASE_EVENT_TYPE = "purchase"
DEFAULT_BEFRIEND_EVENT_TYPE = "befriend"
DEFAULT_UNFRIEND_EVENT_TYPE = "unfriend"
ENV_NETWORK_TABLE_NAME = "CLICKGUARD_NETWORK_TABLE_NAME"
ENV_NETWORK_DEGREE = "CLICKGUARD_NETWORK_DEGREE"
ENV_NETWORK_WINDOW = "CLICKGUARD_NETWORK_WINDOW"
ENV_NETWORK_MAX_FRIENDS = "CLICKGUARD_NETWORK_MAX_FRIENDS"
ENV_PURCHASE_EVENT_TYPE = "CLICKGUARD_PURCHASE_EVENT_TYPE"
ENV_BEFRIEND_EVENT_TYPE = "CLICKGUARD_BEFRIEND_EVENT_TYPE"
ENV_UNFRIEND_EVENT_TYPE = "CLICKGUARD_UNFRIEND_EVENT_TYPE"
# Network table: two items per user, its friends and its last T purchases (partition key, sort key = the part).
NETWORK_TABLE_KEY = "user_key"
NETWORK_TABLE_SORT_KEY = "part"

# `clickguard local up` writes its endpoint and stack name here so other commands can use --local
LOCAL_STATE_FILE = ".clickguard-local.json"
# The local stream drops records both its readers (the consumer's mapping, the archiver) are done with, once they
# are this old: moto applies no retention period, and kept all a long run put. Kinesis keeps them 24 h.
LOCAL_READ_RECORDS_KEPT_SECONDS = 300

# Lambda entry points (asset directory, handler) used by infra and the local runtime
CONSUMER_ASSET_DIR = "lambdas/consumer"
CONSUMER_HANDLER = "handler.lambda_handler"
TRAINER_ASSET_DIR = "training"
TRAINER_HANDLER = "handler.lambda_handler"
# distributed training's functions (issue 13): the same asset directory as the trainer
TRAINING_REDUCE_HANDLER = "reduce_handler.lambda_handler"
TRAINING_MAP_HANDLER = "map_handler.lambda_handler"
TRAINING_SHARD_HANDLER = "shard_handler.lambda_handler"
DECISIONS_ASSET_DIR = "lambdas/decisions"
DECISIONS_HANDLER = "handler.lambda_handler"
SCORE_API_ASSET_DIR = "lambdas/score_api"
SCORE_API_HANDLER = "handler.lambda_handler"

# decisions Lambda (clickguard.review.config)
ENV_ALLOWLIST_DAYS = "CLICKGUARD_ALLOWLIST_DAYS"
ENV_ALLOW_MARGIN = "CLICKGUARD_ALLOW_MARGIN"
