"""RetailOps settings: everything comes from the environment (12-factor).

The defaults run on one laptop with nothing else installed: a SQLite file and a Celery
broker on the local filesystem. Production sets DATABASE_URL (PostgreSQL),
CELERY_BROKER_URL (Redis), SECRET_KEY, ALLOWED_HOSTS and leaves DEBUG off.
"""

import os
import secrets
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# The test runner sets this; it is not a mode anyone deploys.
TESTING = env_bool("RETAILOPS_TESTING", False)
# A checkout's own `.env` (git ignores it): `make run` writes one with DEBUG=1 and a
# generated SECRET_KEY, so the operator commands work beside it as the README writes
# them (RETAILOPS_ENV_FILE names another file). The process environment always wins; the
# test runner never reads it.
if not TESTING:
    load_dotenv(os.environ.get("RETAILOPS_ENV_FILE") or BASE_DIR / ".env", override=False)
DEBUG = env_bool("DEBUG", False)
VAR_DIR = Path(os.environ.get("RETAILOPS_VAR_DIR", BASE_DIR / "var"))

# Management commands that only read the code (no server, nothing signed or stored with
# the key) run anywhere, a CI migration check included, with a throwaway key.
CODE_ONLY_COMMANDS = {"makemigrations", "showmigrations", "sqlmigrate", "help"}
_CODE_ONLY = Path(sys.argv[0]).name == "manage.py" and len(sys.argv) > 1 and sys.argv[1] in CODE_ONLY_COMMANDS

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if _CODE_ONLY:
        SECRET_KEY = secrets.token_urlsafe(50)
    elif DEBUG or TESTING:
        SECRET_KEY = "insecure-development-key-never-use-in-production"
    else:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost" if (DEBUG or TESTING) else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
PORT = int(os.environ.get("PORT", "8000"))

# How many reverse proxies stand in front of the app (each appends to X-Forwarded-For).
# 0: the socket's peer is the client and the header is ignored, so nobody picks their own
# address. The one setting for every throttle and the sign-in lockout (retailops.network).
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "simple_history",
    "django_htmx",
    # The domain, lowest layer first (DESIGN.md "Layout", checked by import-linter).
    "exceptions",
    "integrations",
    "inventory",
    "orders",
    "returns",
    "receiving",
    "reconciliation",
    "casework",
    "connectors",
    "backoffice",
    # Last: its post_migrate handler syncs the roles once every app's permissions exist.
    "retailops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # request.user.is_verified(): whether this session gave a second factor (django-otp).
    "django_otp.middleware.OTPMiddleware",
    # After a successful write, its client reads from the primary for a while (retailops.replica).
    "retailops.replica.ReadYourWritesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "retailops.screens.RefuseNulCharactersMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "retailops.sessions.SessionLifetimeMiddleware",
    "retailops.sessions.SignedInPagesNotStoredMiddleware",
    # After the lifetime check: a session that must give its second factor reaches only that screen.
    "retailops.mfa.SecondFactorRequiredMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "backoffice.urls"
WSGI_APPLICATION = "retailops.wsgi.application"
ASGI_APPLICATION = "retailops.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "retailops.roles.navigation",
            ],
        },
    }
]

# --- Database -------------------------------------------------------------------------

# Lock waits are bounded so a stuck transaction becomes a clear, retryable error
# (`retailops.transactions`): every PostgreSQL session waits at most this long for a lock.
LOCK_TIMEOUT_MS = int(os.environ.get("LOCK_TIMEOUT_MS", "5000"))


def database_from_url(url: str) -> dict:
    database = dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True)
    if database["ENGINE"] == "django.db.backends.postgresql":
        options = database.setdefault("OPTIONS", {})
        options["options"] = f"-c lock_timeout={LOCK_TIMEOUT_MS}"
        # Parameters are bound on the server, and psycopg prepares a statement it has run
        # DB_PREPARE_THRESHOLD times on a connection: PostgreSQL then plans it once per
        # connection instead of on every request (Django's documented `server_side_binding`).
        # DB_SERVER_SIDE_BINDING=0 behind a pooler that cannot carry prepared statements.
        if env_bool("DB_SERVER_SIDE_BINDING", True):
            options["server_side_binding"] = True
            options["prepare_threshold"] = int(os.environ.get("DB_PREPARE_THRESHOLD", "5"))
    return database


DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "retailops.sqlite3",
            "OPTIONS": {
                # IMMEDIATE takes the write lock when a transaction starts, so two writers
                # queue up instead of failing with "database is locked" half-way through.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": VAR_DIR / "test-retailops.sqlite3"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# A streaming read replica of the primary (README "Read replica"): empty, everything is read
# on the primary. Set, the reads that opt in (retailops.replica: the availability API, the
# dashboard, the CSV exports) go to it while it is at most REPLICA_MAX_LAG_SECONDS behind
# (measured at most every REPLICA_LAG_CHECK_SECONDS per process), and a client that wrote
# within REPLICA_PIN_SECONDS reads its own writes on the primary.
DATABASE_REPLICA_URL = os.environ.get("DATABASE_REPLICA_URL", "")
REPLICA_MAX_LAG_SECONDS = float(os.environ.get("REPLICA_MAX_LAG_SECONDS", "2"))
REPLICA_LAG_CHECK_SECONDS = float(os.environ.get("REPLICA_LAG_CHECK_SECONDS", "1"))
REPLICA_PIN_SECONDS = int(os.environ.get("REPLICA_PIN_SECONDS", "5"))
if DATABASE_REPLICA_URL:
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_REPLICA_URL needs DATABASE_URL to be PostgreSQL.")
    DATABASES["replica"] = database_from_url(DATABASE_REPLICA_URL)
    # An unreachable replica costs a request at most this long before it falls back.
    DATABASES["replica"]["OPTIONS"]["connect_timeout"] = int(os.environ.get("REPLICA_CONNECT_TIMEOUT", "2"))
    # Tests: the replica is a physical copy, so the test database created on the primary
    # appears on it. MIRROR keeps the test runner from creating (or flushing) a database
    # there and gives the alias the primary's test database name; the alias still connects
    # to the replica's own host and port (Django copies only NAME from the mirrored alias).
    DATABASES["replica"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["retailops.replica.ReplicaRouter"]
# Whether opted-in reads use the replica. The test suite reads on the primary (a test's
# own transaction is invisible to the replica) except where a test turns this on.
REPLICA_READS = bool(DATABASE_REPLICA_URL) and not TESTING

# --- Cache (throttling, short-lived counters) ---------------------------------------

CACHE_URL = os.environ.get("CACHE_URL", "")
if CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -----------------------------------------------------------------------------

AUTHENTICATION_BACKENDS = [
    # First: refuses every sign-in of a locked-out account or address, the right password too.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
ANONYMOUS_USER_NAME = None  # guardian: no anonymous user row; anonymous callers get nothing
GUARDIAN_MONKEY_PATCH_USER = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in lockout (django-axes), for the staff login, the admin login and the API token
# login alike: after LOGIN_FAILURE_LIMIT failures for one username, or from one client
# address (through TRUSTED_PROXY_COUNT), sign-ins from it are refused, the right password
# included, until LOGIN_LOCKOUT_MINUTES have passed without another try. Every sign-in,
# sign-out and failure is kept (axes' access logs, read-only in the admin for ops admins).
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "retailops.network.client_address"
AXES_LOCKOUT_CALLABLE = "retailops.signin.locked_out_response"
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# A staff session ends after this long without a request, and this long after its sign-in
# whatever happens (retailops.sessions); the cookie lives no longer than the second.
SESSION_IDLE_TIMEOUT = timedelta(minutes=float(os.environ.get("SESSION_IDLE_TIMEOUT_MINUTES", "30")))
SESSION_ABSOLUTE_TIMEOUT = timedelta(hours=float(os.environ.get("SESSION_ABSOLUTE_TIMEOUT_HOURS", "12")))
SESSION_COOKIE_AGE = int(SESSION_ABSOLUTE_TIMEOUT.total_seconds())
# Sensitive actions (approving an adjustment worth the policy's second threshold or more)
# need the password typed within this long: at sign-in, or again on the confirmation screen.
PASSWORD_CONFIRM_TIMEOUT = timedelta(minutes=float(os.environ.get("PASSWORD_CONFIRM_MINUTES", "5")))
# Second factor (django-otp, retailops.mfa): the roles in retailops.mfa.MFA_ROLES, admin users
# and anyone who enrolled give a TOTP code (or a recovery code) after the password. The
# authenticator app shows this name beside the account.
OTP_TOTP_ISSUER = os.environ.get("MFA_ISSUER", "RetailOps")
# Recovery codes handed out at enrolment, each good once.
MFA_RECOVERY_CODES = int(os.environ.get("MFA_RECOVERY_CODES", "10"))
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG and not TESTING:
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    # HTTPS only: plain HTTP is redirected, and browsers are told (HSTS) never to try it.
    # SECURE_SSL_REDIRECT=0 where nothing terminates TLS (a benchmark on loopback).
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(365 * 24 * 3600)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    # Behind TLS-terminating proxies, the header they set says the browser used HTTPS. It is
    # believed only when proxies are configured (TRUSTED_PROXY_COUNT), like X-Forwarded-For.
    _ssl_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "X-Forwarded-Proto" if TRUSTED_PROXY_COUNT else "")
    if _ssl_header:
        SECURE_PROXY_SSL_HEADER = ("HTTP_" + _ssl_header.upper().replace("-", "_"), "https")
# Load balancers probe these over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]

# Content-Security-Policy (django-csp): scripts and styles come from our own static files
# only, so an injected <script>, inline handler (onclick=…) or style cannot run. Templates
# keep no inline script or style; htmx is told not to add its own <style> (base.html).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- Internationalisation -------------------------------------------------------------

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
if DEBUG or TESTING:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise serves from finders meanwhile
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if (DEBUG or TESTING)
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- API ------------------------------------------------------------------------------

# Large enough for 1,000 events; anything larger is refused with a 400 problem.
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("DATA_UPLOAD_MAX_MEMORY_SIZE", str(5 * 1024 * 1024)))
# An uploaded file larger than this goes to a temporary file, not memory: a snapshot CSV
# uploaded on the reconciliation screen may hold a million lines, and is read as a stream.
FILE_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("FILE_UPLOAD_MAX_MEMORY_SIZE", str(2 * 1024 * 1024)))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["retailops.access.ApiAccess"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["retailops.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["retailops.throttling.ClientRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "client": os.environ.get("API_THROTTLE_RATE", "3000/min"),
        "token_login": os.environ.get("API_LOGIN_THROTTLE_RATE", "10/min"),
    },
    "DEFAULT_PAGINATION_CLASS": "retailops.pagination.CursorPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "retailops.problems.problem_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "RetailOps partner API",
    "DESCRIPTION": "Contract v1: inventory events, availability, reservations, orders, "
    "adjustments, transfers, returns, snapshots and cases.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "LocationKindEnum": "inventory.models.Location.Kind",
        "ChannelKindEnum": "inventory.models.Channel.Kind",
        "OrderStatusEnum": "orders.states.OrderStatus",
        "AllocationStatusEnum": "orders.states.AllocationStatus",
        "AdjustmentStatusEnum": "inventory.states.AdjustmentStatus",
        "TransferStatusEnum": "inventory.states.TransferStatus",
        "CaseKindEnum": "exceptions.states.CaseKind",
        "CaseStatusEnum": "exceptions.states.CaseStatus",
        "CaseQueueEnum": "exceptions.states.Queue",
        "CaseSeverityEnum": "exceptions.states.Severity",
        "ReconciliationStatusEnum": "reconciliation.states.RunStatus",
        "ReconciliationClassificationEnum": "reconciliation.states.Classification",
        "ReconciliationDecisionEnum": "reconciliation.states.Decision",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "retailops.schema.add_problem_responses",
    ],
}

# Idempotency keys are kept at least this long (API.md promises 24 h).
IDEMPOTENCY_KEY_TTL_HOURS = int(os.environ.get("IDEMPOTENCY_KEY_TTL_HOURS", "24"))
# A request still "in progress" after this long died with its process; its key is taken over.
IDEMPOTENCY_LOCK_SECONDS = int(os.environ.get("IDEMPOTENCY_LOCK_SECONDS", "120"))

# Counts whose variance value reaches this need a finance approver.
APPROVAL_THRESHOLD = Decimal(os.environ.get("APPROVAL_THRESHOLD", "1000.00"))
# Reasons an adjustment may give (API.md "Adjustments"); anything else is 400 invalid_reason.
# `reconciliation` is what accepting a partner's quantity in reconciliation review asks for.
ADJUSTMENT_REASONS = env_list(
    "ADJUSTMENT_REASONS",
    "correction,cycle_count,damaged,shrink,theft,found_stock,expired,quality_control,received,restock,"
    "reconciliation,other",
)
# A shipped transfer without an expected arrival is expected this many hours after it ships.
TRANSFER_TRANSIT_HOURS = int(os.environ.get("TRANSFER_TRANSIT_HOURS", "72"))

# --- Celery ---------------------------------------------------------------------------

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Broadcast (worker control) files too, or kombu writes them under the working directory.
        "control_folder": str(_broker_dir / "control"),
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
else:
    # Longer than the longest task, so a task that is still running is not redelivered.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
# At-least-once: a task is acknowledged after it ran, and a task whose worker died is
# given back to the queue. Every task is therefore written to be safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "idempotency-purge-expired": {
        "task": "retailops.tasks.idempotency_purge_expired",
        "schedule": crontab(minute=17),
    },
}

# --- Logging --------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# Personal API tokens of staff users expire after this many days.
STAFF_TOKEN_TTL_DAYS = int(os.environ.get("STAFF_TOKEN_TTL_DAYS", "30"))

if TESTING:
    # Password hashing is deliberately slow; tests create many users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# A location whose ledger confidence is below this is not offered to ship channels.
SOURCING_CONFIDENCE_THRESHOLD = Decimal(os.environ.get("SOURCING_CONFIDENCE_THRESHOLD", "0.80"))
# Location confidence (inventory/confidence): the trailing window its factors are read
# over, the least data a location needs for a factor to count, and the least locations
# with enough data for a factor to be compared at all.
CONFIDENCE_WINDOW_DAYS = int(os.environ.get("CONFIDENCE_WINDOW_DAYS", "30"))
CONFIDENCE_MIN_COUNTED_LINES = int(os.environ.get("CONFIDENCE_MIN_COUNTED_LINES", "5"))
CONFIDENCE_MIN_EVENTS = int(os.environ.get("CONFIDENCE_MIN_EVENTS", "20"))
CONFIDENCE_MIN_LEVELS = int(os.environ.get("CONFIDENCE_MIN_LEVELS", "5"))
CONFIDENCE_MIN_ESTATE = int(os.environ.get("CONFIDENCE_MIN_ESTATE", "3"))
# A SKU × location gets a confidence of its own (else its location's stands) when it has at
# least this many count lines in the window; its estate is the levels that have as many.
CONFIDENCE_LEVEL_MIN_COUNTED_LINES = int(os.environ.get("CONFIDENCE_LEVEL_MIN_COUNTED_LINES", "3"))
# The reconciliation variance factor (registered by the reconciliation app): its weight, and
# the snapshot lines a location needs over the window for it to count.
CONFIDENCE_RECONCILIATION_WEIGHT = float(os.environ.get("CONFIDENCE_RECONCILIATION_WEIGHT", "0.45"))
CONFIDENCE_MIN_RECONCILED_LINES = int(os.environ.get("CONFIDENCE_MIN_RECONCILED_LINES", "20"))
CELERY_BEAT_SCHEDULE["inventory-location-confidence-nightly"] = {
    "task": "inventory.tasks.locations_score",
    "schedule": crontab(hour=1, minute=45),
}
# The partitioned ledger on PostgreSQL (README "Partitioned ledger"): months of partitions
# kept ready ahead of now, and how many months back stay attached (empty: all of them;
# older months are detached and kept as archive tables, never dropped).
LEDGER_PARTITION_MONTHS_AHEAD = int(os.environ.get("LEDGER_PARTITION_MONTHS_AHEAD", "3"))
LEDGER_PARTITION_RETAIN_MONTHS = (int(os.environ["LEDGER_PARTITION_RETAIN_MONTHS"])
                                  if os.environ.get("LEDGER_PARTITION_RETAIN_MONTHS") else None)
# A month of movements is closed for `verify_ledger --incremental` this long after it
# ended: a transaction still open at midnight records its movements in the old month.
LEDGER_MONTH_SETTLE_HOURS = int(os.environ.get("LEDGER_MONTH_SETTLE_HOURS", "6"))
CELERY_BEAT_SCHEDULE["inventory-ledger-partitions-daily"] = {
    "task": "inventory.tasks.ledger_partitions_maintain",
    "schedule": crontab(hour=0, minute=40),
}

# --- Orders ---------------------------------------------------------------------------

# Sourcing prefers locations by kind in this order (after fewest splits, before region).
SOURCING_LOCATION_PRIORITY = env_list("SOURCING_LOCATION_PRIORITY", "dc,dark_store,3pl,store,virtual")


def env_hours(name: str, default: str) -> dict[str, int]:
    """`key:hours,key:hours` → {key: hours}."""
    return {key.strip(): int(hours) for key, hours in (item.split(":", 1) for item in env_list(name, default))}


# A location takes at most Location.capacity open order allocations a day (none: no limit).
# The last share of that capacity is kept for the highest-priority channels: a channel of
# lower priority stops at capacity × (1 − share).
SOURCING_PRIORITY_CAPACITY_SHARE = Decimal(os.environ.get("SOURCING_PRIORITY_CAPACITY_SHARE", "0.20"))
# The fulfilment SLA per channel kind (hours from order to delivery), and what a location
# needs to meet it: its handling time by kind plus the transit to the ship-to region. When
# an order names its region, locations that meet the SLA come first.
FULFILMENT_SLA_HOURS = env_hours("FULFILMENT_SLA_HOURS", "web:72,marketplace:96,wholesale:168")
SOURCING_HANDLING_HOURS = env_hours("SOURCING_HANDLING_HOURS", "dc:24,dark_store:4,3pl:24,store:12,virtual:24")
SOURCING_TRANSIT_HOURS = env_hours("SOURCING_TRANSIT_HOURS", "same_region:24,other_region:72")
# A pickup order must be acknowledged by its store within this many minutes, else a case.
# A location's own window (Location.pickup_ack_minutes, set in the admin) comes first.
PICKUP_ACK_WINDOW_MINUTES = int(os.environ.get("PICKUP_ACK_WINDOW_MINUTES", "120"))
CELERY_BEAT_SCHEDULE["orders-expire-holds"] = {
    "task": "orders.tasks.reservations_expire",
    "schedule": crontab(),  # every minute
}
CELERY_BEAT_SCHEDULE["orders-detect-overdue-pickups"] = {
    "task": "orders.tasks.pickups_overdue_detect",
    "schedule": crontab(),
}
# --- Returns ----------------------------------------------------------------------------

# A refund paid this many days ago for units that never (fully) arrived opens a case.
RETURN_REFUND_WITHOUT_RECEIPT_DAYS = int(os.environ.get("RETURN_REFUND_WITHOUT_RECEIPT_DAYS", "14"))
# Units received this many days ago on a return nobody refunded open a case.
RETURN_RECEIPT_WITHOUT_REFUND_DAYS = int(os.environ.get("RETURN_RECEIPT_WITHOUT_REFUND_DAYS", "7"))
# An authorisation nothing came back on (and no refund stands on) expires after this many days.
RETURN_AUTHORIZATION_EXPIRY_DAYS = int(os.environ.get("RETURN_AUTHORIZATION_EXPIRY_DAYS", "30"))
CELERY_BEAT_SCHEDULE["returns-detect-unreconciled"] = {
    "task": "returns.tasks.returns_unreconciled_detect",
    "schedule": crontab(minute=45),  # hourly
}
CELERY_BEAT_SCHEDULE["inventory-detect-overdue-transfers"] = {
    "task": "inventory.tasks.transfers_overdue_detect",
    "schedule": crontab(minute="*/15"),
}

# --- Supplier receipts ------------------------------------------------------------------

# A notice still awaited this many hours after its expected arrival becomes a case.
ASN_OVERDUE_GRACE_HOURS = int(os.environ.get("ASN_OVERDUE_GRACE_HOURS", "24"))
CELERY_BEAT_SCHEDULE["receiving-detect-overdue-asns"] = {
    "task": "receiving.tasks.asns_overdue_detect",
    "schedule": crontab(minute="*/15"),
}

# --- Integrations: outbox relay, sync jobs, sandbox partner ------------------------------

# The Celery queue the integration tasks go to (a dedicated worker pool may serve it).
INTEGRATIONS_QUEUE = os.environ.get("INTEGRATIONS_QUEUE", "celery")
# Messages one relay claim takes per system, and how long one relay task keeps claiming.
INTEGRATIONS_RELAY_BATCH = int(os.environ.get("INTEGRATIONS_RELAY_BATCH", "200"))
# Threads per worker process that send the relay's requests (each system also has its own
# `max_in_flight` limit).
INTEGRATIONS_RELAY_THREADS = int(os.environ.get("INTEGRATIONS_RELAY_THREADS", "16"))
INTEGRATIONS_RELAY_TIME_BUDGET_SECONDS = float(os.environ.get("INTEGRATIONS_RELAY_TIME_BUDGET_SECONDS", "20"))
# Beat also runs the relay this often, so a lost wake-up only delays a message.
INTEGRATIONS_RELAY_INTERVAL_SECONDS = float(os.environ.get("INTEGRATIONS_RELAY_INTERVAL_SECONDS", "5"))
# A claimed message not finished within the lease is claimed again (its worker died).
INTEGRATIONS_LEASE_SECONDS = float(os.environ.get("INTEGRATIONS_LEASE_SECONDS", "60"))
INTEGRATIONS_MAX_ATTEMPTS = int(os.environ.get("INTEGRATIONS_MAX_ATTEMPTS", "8"))
INTEGRATIONS_BACKOFF_BASE_SECONDS = float(os.environ.get("INTEGRATIONS_BACKOFF_BASE_SECONDS", "2"))
INTEGRATIONS_BACKOFF_MAX_SECONDS = float(os.environ.get("INTEGRATIONS_BACKOFF_MAX_SECONDS", "900"))
INTEGRATIONS_RETRY_AFTER_MAX_SECONDS = float(os.environ.get("INTEGRATIONS_RETRY_AFTER_MAX_SECONDS", "3600"))
# The circuit of a system opens after this many consecutive failures; a probe goes after the cool-down.
INTEGRATIONS_CIRCUIT_THRESHOLD = int(os.environ.get("INTEGRATIONS_CIRCUIT_THRESHOLD", "5"))
INTEGRATIONS_CIRCUIT_COOLDOWN_SECONDS = float(os.environ.get("INTEGRATIONS_CIRCUIT_COOLDOWN_SECONDS", "60"))
# Wake the relay as soon as a transaction that wrote outbox rows commits.
INTEGRATIONS_RELAY_ON_COMMIT = env_bool("INTEGRATIONS_RELAY_ON_COMMIT", True)
# The bundled sandbox partner (`make run` starts it; the demo systems point at it).
INTEGRATIONS_SANDBOX_PORT = int(os.environ.get("INTEGRATIONS_SANDBOX_PORT", "8765"))
# A worker that consumes INTEGRATIONS_QUEUE also consumes each system's relay queue
# (INTEGRATIONS_QUEUE.<code>) and looks this often for new systems.
INTEGRATIONS_QUEUE_REFRESH_SECONDS = float(os.environ.get("INTEGRATIONS_QUEUE_REFRESH_SECONDS", "10"))
# …except the queues of these systems, which a pool of workers of their own consumes.
INTEGRATIONS_OWN_POOL_SYSTEMS = env_list("INTEGRATIONS_OWN_POOL_SYSTEMS", "")
CELERY_BEAT_SCHEDULE["integrations-outbox-relay"] = {
    "task": "connectors.tasks.outbox_relay_wake_due",
    "schedule": INTEGRATIONS_RELAY_INTERVAL_SECONDS,
    "options": {"queue": INTEGRATIONS_QUEUE, "expires": INTEGRATIONS_RELAY_INTERVAL_SECONDS * 4},
}
# Partners' freshness: a sync_lagging case opens and closes within this long of the lag.
INTEGRATIONS_LAG_CHECK_SECONDS = float(os.environ.get("INTEGRATIONS_LAG_CHECK_SECONDS", "30"))
CELERY_BEAT_SCHEDULE["integrations-sync-lag-check"] = {
    "task": "connectors.tasks.sync_lag_check",
    "schedule": INTEGRATIONS_LAG_CHECK_SECONDS,
    "options": {"queue": INTEGRATIONS_QUEUE, "expires": INTEGRATIONS_LAG_CHECK_SECONDS * 2},
}
CELERY_BEAT_SCHEDULE["integrations-availability-full-push"] = {
    "task": "connectors.tasks.availability_full_push_all",
    "schedule": crontab(minute=5),  # hourly
    "options": {"queue": INTEGRATIONS_QUEUE},
}
# Snapshots (API, upload, pull): refused whole past these; each is reconciled by a run.
SNAPSHOT_MAX_LINES = int(os.environ.get("SNAPSHOT_MAX_LINES", "1000000"))
SNAPSHOT_MAX_BYTES = int(os.environ.get("SNAPSHOT_MAX_BYTES", str(256 * 1024 * 1024)))
# Each snapshot-capable system is pulled, and its snapshot reconciled against the ledger,
# once a day at this hour (TIME_ZONE).
RECONCILE_PULL_HOUR = int(os.environ.get("RECONCILE_PULL_HOUR", "3"))
# The Celery queue reconciliation runs go to (a run may take a minute on a million lines).
RECONCILIATION_QUEUE = os.environ.get("RECONCILIATION_QUEUE", "celery")
CELERY_BEAT_SCHEDULE["integrations-snapshot-pull"] = {
    "task": "connectors.tasks.snapshot_pull_all",
    "schedule": crontab(hour=RECONCILE_PULL_HOUR, minute=15),
    "options": {"queue": INTEGRATIONS_QUEUE},
}
# A run still `running` this long after it started, and no longer locked by a worker, is
# failed by the beat's check (a case tells integration support; staff may run it again).
RECONCILE_STALE_MINUTES = int(os.environ.get("RECONCILE_STALE_MINUTES", "45"))
CELERY_BEAT_SCHEDULE["reconciliation-stale-runs"] = {
    "task": "reconciliation.tasks.runs_stale_check",
    "schedule": crontab(minute="*/5"),
    "options": {"queue": RECONCILIATION_QUEUE},
}

# --- Cases: SLAs and scheduled detectors (exceptions app) -------------------------------

# Per-kind SLA overrides in hours, "kind=hours,kind=hours" (defaults: exceptions/policy.py).
CASE_SLA_HOURS = {
    kind.strip(): float(hours)
    for kind, _sep, hours in (item.partition("=") for item in env_list("CASE_SLA_HOURS"))
}
# A level that sells but has not been counted for this many days raises a stale_level case.
CASE_STALE_LEVEL_DAYS = int(os.environ.get("CASE_STALE_LEVEL_DAYS", "30"))
CELERY_BEAT_SCHEDULE["cases-ledger-drift-nightly"] = {
    "task": "casework.tasks.ledger_drift_detect",
    "schedule": crontab(hour=2, minute=30),
}
CELERY_BEAT_SCHEDULE["cases-stale-levels-nightly"] = {
    "task": "casework.tasks.stale_levels_detect",
    "schedule": crontab(hour=3, minute=15),
}
# Anomaly detectors (casework/anomalies.py: what each pattern means).
ANOMALY_DROP_WINDOW_HOURS = int(os.environ.get("ANOMALY_DROP_WINDOW_HOURS", "24"))
ANOMALY_DROP_UNITS = int(os.environ.get("ANOMALY_DROP_UNITS", "20"))
ANOMALY_DROP_PERCENT = float(os.environ.get("ANOMALY_DROP_PERCENT", "50"))
ANOMALY_DROP_MIN_UNITS = int(os.environ.get("ANOMALY_DROP_MIN_UNITS", "5"))
ANOMALY_SHRINK_DAYS = int(os.environ.get("ANOMALY_SHRINK_DAYS", "7"))
ANOMALY_SHRINK_BASELINE_WEEKS = int(os.environ.get("ANOMALY_SHRINK_BASELINE_WEEKS", "8"))
ANOMALY_SHRINK_FACTOR = float(os.environ.get("ANOMALY_SHRINK_FACTOR", "3"))
ANOMALY_SHRINK_MIN_VALUE = float(os.environ.get("ANOMALY_SHRINK_MIN_VALUE", "200"))
ANOMALY_NEGATIVE_DAYS = int(os.environ.get("ANOMALY_NEGATIVE_DAYS", "7"))
ANOMALY_NEGATIVE_REPEATS = int(os.environ.get("ANOMALY_NEGATIVE_REPEATS", "5"))
ANOMALY_PHANTOM_DAYS = int(os.environ.get("ANOMALY_PHANTOM_DAYS", "14"))
ANOMALY_PHANTOM_MIN_SOLD_ELSEWHERE = int(os.environ.get("ANOMALY_PHANTOM_MIN_SOLD_ELSEWHERE", "10"))
ANOMALY_LATENCY_WINDOW_MINUTES = int(os.environ.get("ANOMALY_LATENCY_WINDOW_MINUTES", "60"))
ANOMALY_LATENCY_MIN_EVENTS = int(os.environ.get("ANOMALY_LATENCY_MIN_EVENTS", "10"))
ANOMALY_EVENT_LATENCY_SECONDS = int(os.environ.get("ANOMALY_EVENT_LATENCY_SECONDS", "900"))
# POS silence: a store's tills quiet this long while it is open (its trading hours), among
# the stores whose tills sent anything in the lookback.
ANOMALY_POS_SILENCE_MINUTES = int(os.environ.get("ANOMALY_POS_SILENCE_MINUTES", "60"))
ANOMALY_POS_SILENCE_LOOKBACK_DAYS = int(os.environ.get("ANOMALY_POS_SILENCE_LOOKBACK_DAYS", "7"))
CELERY_BEAT_SCHEDULE["cases-anomalies-frequent"] = {
    "task": "casework.tasks.anomalies_detect_frequent",
    "schedule": crontab(minute="*/15"),
}
CELERY_BEAT_SCHEDULE["cases-anomalies-nightly"] = {
    "task": "casework.tasks.anomalies_detect_nightly",
    "schedule": crontab(hour=3, minute=45),
}
CELERY_BEAT_SCHEDULE["cases-escalate-sla-breaches"] = {
    "task": "casework.tasks.sla_breaches_escalate",
    "schedule": crontab(minute="*/5"),
}
CELERY_BEAT_SCHEDULE["cases-resolve-cleared-negative-on-hand"] = {
    "task": "casework.tasks.negative_on_hand_resolve_cleared",
    "schedule": crontab(minute="*/5"),
}

# --- Email notifications (backoffice.notifications) -------------------------------------

# Under DEBUG (`make run`) mail is printed on the console; production sets the SMTP server.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend" if DEBUG else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "10"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "RetailOps <retailops@localhost>")
# Where links in mail point: the address people open the app at.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")

CELERY_BEAT_SCHEDULE["notifications-decide"] = {
    "task": "backoffice.tasks.notifications_decide",
    "schedule": crontab(minute="*/5"),
}
CELERY_BEAT_SCHEDULE["notifications-daily-digests"] = {
    "task": "backoffice.tasks.notification_digests_send",
    "schedule": crontab(hour=int(os.environ.get("NOTIFICATION_DIGEST_HOUR", "7")), minute=0),
}

# The dashboard's daily rollup (backoffice.rollup): every hour the last N whole days are
# rebuilt (a pickup acknowledged late changes its day), and any day of the last year not
# built yet is built; a span also builds the days it asks for on demand.
DASHBOARD_ROLLUP_REFRESH_DAYS = int(os.environ.get("DASHBOARD_ROLLUP_REFRESH_DAYS", "3"))
CELERY_BEAT_SCHEDULE["dashboard-rollup-refresh"] = {
    "task": "backoffice.tasks.dashboard_rollup_refresh",
    "schedule": crontab(minute=int(os.environ.get("DASHBOARD_ROLLUP_MINUTE", "7"))),
}
