"""Herald settings: every value that differs between machines comes from the environment.

Two run modes follow from ``REDIS_URL``:
- unset: embedded mode (SQLite by default, in-memory channel layer, local-memory cache,
  Celery on the in-process ``memory://`` broker);
- set: services mode (Redis cache, channels-redis, Redis broker unless CELERY_BROKER_URL says
  otherwise), normally together with a PostgreSQL ``DATABASE_URL``.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


# Redis: unset means embedded mode.
REDIS_URL = env_str("REDIS_URL")
EMBEDDED_MODE = not REDIS_URL

# Safe unless asked otherwise: debug pages and the fixed development key belong to the embedded
# development mode only; a services-mode process that forgets DEBUG runs without them.
DEBUG = env_bool("DEBUG", default=EMBEDDED_MODE)

DEVELOPMENT_SECRET_KEY = "insecure-development-key-only-for-embedded-debug-mode"
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not (DEBUG and EMBEDDED_MODE):
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off or REDIS_URL is set (services mode); "
            "`make run` keeps one in .secret_key."
        )
    SECRET_KEY = DEVELOPMENT_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
# Trust X-Forwarded-Proto (or the header named here) only behind a proxy that sets it:
# without one, any client could claim https.
_PROXY_SSL_HEADER = env_str("SECURE_PROXY_SSL_HEADER")
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_" + _PROXY_SSL_HEADER.upper().replace("-", "_"), "https") if _PROXY_SSL_HEADER else None
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "axes",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "health_check",
    "django_ratelimit",
    "config",
    "notifications",
    "notifications.delivery",
    "events",
    "leaderboard",
    "graphql_api",
    "operations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "operations.middleware.RequestMetricsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

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
            ],
        },
    },
]

# Database: SQLite file in the project unless DATABASE_URL names another.
_database_url = env_str("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        _database_url,
        # Persistent connections on PostgreSQL: a socket's connect (session and user lookups)
        # then costs two queries, not two new connections. Checked before reuse.
        conn_max_age=env_int(
            "DATABASE_CONN_MAX_AGE", 60 if _database_url.startswith("postgres") else 0
        ),
        conn_health_checks=True,
    )
}
# A pool of connections per process (psycopg's, PostgreSQL only), for the web processes: Django
# under ASGI runs each HTTP request's sync code on a thread of its own, so a persistent connection
# is never reused there, and each request paid a new connection while the old ones lingered
# until PostgreSQL ran out of slots. The Procfile's web line turns it on; 0 = no pool.
DATABASE_POOL_MAX_SIZE = env_int("DATABASE_POOL_MAX_SIZE", 0)
if DATABASE_POOL_MAX_SIZE and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool keeps them instead
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, DATABASE_POOL_MAX_SIZE), "max_size": DATABASE_POOL_MAX_SIZE,
        "timeout": 10,
    }
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Threads of the embedded worker and the web server share one file: wait for locks.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.RedisCache",  # one connection pool per process
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", "herald"),
        }
    }
    # The channel layer's Redis hosts: REDIS_URL, or CHANNEL_LAYER_REDIS_URLS (comma-separated) to
    # shard groups over several Redis servers. Each host gets bounded connect and read timeouts
    # and a periodic health check, so a dead connection is noticed and re-opened.
    _layer_hosts = [
        {
            "address": url,
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
            "socket_keepalive": True,
            "health_check_interval": 10,
            "retry_on_timeout": True,
        }
        for url in env_list("CHANNEL_LAYER_REDIS_URLS") or [REDIS_URL]
    ]
    # "pubsub" (default): channels-redis's Redis pub/sub layer. Group memberships live in each web
    # process and are re-subscribed when Redis comes back; a message reaches a process as a
    # pushed frame, with no per-message round trip. "core": the list-based RedisChannelLayer.
    CHANNEL_LAYER = env_str("CHANNEL_LAYER", "pubsub")
    if CHANNEL_LAYER == "pubsub":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {
                    "hosts": _layer_hosts,
                    "prefix": env_str("CHANNEL_LAYER_PREFIX", "herald"),
                },
            }
        }
    elif CHANNEL_LAYER == "core":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    # No read timeout here: the layer's receive blocks on Redis for 5 s at a time.
                    "hosts": [
                        {**host, "socket_timeout": None, "max_connections": 1000}
                        for host in _layer_hosts
                    ],
                    "prefix": env_str("CHANNEL_LAYER_PREFIX", "herald"),
                    "capacity": env_int("CHANNEL_LAYER_CAPACITY", 1000),
                    "expiry": 60,
                },
            }
        }
    else:
        raise ImproperlyConfigured("CHANNEL_LAYER must be 'pubsub' or 'core'.")
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "config.channel_layers.EmbeddedChannelLayer"}}

# Celery (read by config/celery.py with the CELERY_ namespace).
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# Tasks whose queue never changes. The pipeline's own tasks (pushes, deliveries, broadcasts) take
# the queue of the notification's priority at the call (notifications.delivery.policy.queue_for).
CELERY_TASK_ROUTES = {
    "events.broadcast_event_change": {"queue": "urgent"},  # open pages see an edit at once
    "leaderboard.tasks.game_broadcast": {"queue": "urgent"},
    "leaderboard.tasks.leaderboard_broadcast": {"queue": "urgent"},
    "leaderboard.tasks.leaderboard_rebuild": {"queue": "bulk"},
    "notifications.delivery.send_email_digest": {"queue": "bulk"},
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# A task message started this many times without finishing (its worker died each time) is
# dead-lettered instead of being put back once more (config/redelivery.py).
TASK_MAX_DELIVERIES = env_int("TASK_MAX_DELIVERIES", 5)

# Leaderboard scorer: a deterministic local scorer, or any OpenAI-compatible chat-completions API.
LEADERBOARD_SCORER = env_str("LEADERBOARD_SCORER", "leaderboard.scorers.LocalScorer")
LEADERBOARD_LLM_BASE_URL = env_str("LEADERBOARD_LLM_BASE_URL")
LEADERBOARD_LLM_MODEL = env_str("LEADERBOARD_LLM_MODEL", "gpt-4o-mini")
LEADERBOARD_LLM_API_KEY = env_str("LEADERBOARD_LLM_API_KEY")
LEADERBOARD_LLM_TIMEOUT = env_int("LEADERBOARD_LLM_TIMEOUT", 30)
# A game ended this long ago and still unscored is swept: scored again, or failed after this many
# scoring attempts (visible in the admin, which can queue it again).
LEADERBOARD_SCORING_STALE_SECONDS = env_int("LEADERBOARD_SCORING_STALE_SECONDS", 1800)
LEADERBOARD_SCORING_MAX_ATTEMPTS = env_int("LEADERBOARD_SCORING_MAX_ATTEMPTS", 12)
# Open leaderboard pages get the top 10 at most once per this many seconds, however many submits.
LEADERBOARD_BROADCAST_INTERVAL = env_int("LEADERBOARD_BROADCAST_INTERVAL", 1)
# A player hears "you were overtaken" at most once per this many seconds.
LEADERBOARD_RANK_NOTIFY_WINDOW = env_int("LEADERBOARD_RANK_NOTIFY_WINDOW", 600)
# The Redis sorted set of totals (an accelerator, rebuilt from the table): its key, and its Redis
# when not REDIS_URL's (then the after-submit update is three calls instead of one script).
LEADERBOARD_REDIS_KEY = env_str("LEADERBOARD_REDIS_KEY", "herald:leaderboard:totals")
LEADERBOARD_REDIS_URL = env_str("LEADERBOARD_REDIS_URL")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login throttling (django-axes): the first backend refuses logins from a locked-out client.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# LOGIN_FAILURE_LIMIT failed logins from one address, or for one username, lock it out for
# LOGIN_LOCKOUT_MINUTES (the admin's login included); a success resets the count.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
# The client address is the socket's peer: X-Forwarded-For is set by whoever sends the request.
# Behind a proxy, let the server take the address from the proxy (daphne --proxy-headers).
AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
AXES_VERBOSE = False
# Signups and invalid API keys (django-ratelimit, keyed by REMOTE_ADDR like the login lockout).
SIGNUP_RATE_LIMIT = env_str("SIGNUP_RATE_LIMIT", "5/h")
# django-ratelimit knows only django-redis among Redis caches; Django's own increments atomically.
SILENCED_SYSTEM_CHECKS = ["django_ratelimit.W001"]
if EMBEDDED_MODE:
    # One process: its local-memory cache is shared by everything that counts.
    SILENCED_SYSTEM_CHECKS.append("django_ratelimit.E003")
# Messages live in the session, not in a cookie: the admin shows a new API key's secret once.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# WebSockets (config/socket_guard.py): largest frame, messages per window per socket, and how
# often an open socket checks that its login is still valid.
SOCKET_MAX_FRAME_BYTES = env_int("SOCKET_MAX_FRAME_BYTES", 64 * 1024)
SOCKET_RATE_LIMIT_MESSAGES = env_int("SOCKET_RATE_LIMIT_MESSAGES", 20)
SOCKET_RATE_LIMIT_WINDOW_SECONDS = env_int("SOCKET_RATE_LIMIT_WINDOW_SECONDS", 10)
SOCKET_AUTH_RECHECK_SECONDS = env_int("SOCKET_AUTH_RECHECK_SECONDS", 300)

# Events: edits within this many seconds of an "event updated" notification merge into one more.
EVENT_UPDATE_COLLAPSE_SECONDS = env_int("EVENT_UPDATE_COLLAPSE_SECONDS", 60)
# Notification center: how often a page polls the badge and list while its socket is down.
NOTIFICATION_POLL_SECONDS = env_int("NOTIFICATION_POLL_SECONDS", 10)

# Sockets (read by notifications/realtime/consumers.py and the serve command).
# Open pages per user; past it the oldest page's socket is closed with 4429.
WEBSOCKET_MAX_PER_USER = env_int("WEBSOCKET_MAX_PER_USER", 10)
# Keepalive: an idle socket is pinged this often and closed when no pong comes back in time, so a
# vanished client does not hold a socket for hours.
WEBSOCKET_PING_INTERVAL_SECONDS = env_int("WEBSOCKET_PING_INTERVAL_SECONDS", 20)
WEBSOCKET_PING_TIMEOUT_SECONDS = env_int("WEBSOCKET_PING_TIMEOUT_SECONDS", 30)
# A handshake not completed in this time is refused (daphne's default is 5 s). In a reconnect
# storm handshakes queue behind each other, and one refused after seconds of waiting has cost the
# server its work and comes back as a retry; but past what a client waits, the server would only
# finish handshakes for clients that have left (the queue never drains), so not longer than that.
WEBSOCKET_HANDSHAKE_TIMEOUT_SECONDS = env_int("WEBSOCKET_HANDSHAKE_TIMEOUT_SECONDS", 10)
# A socket whose client stops reading (a frozen tab, a dead mobile link) would have every frame
# sent to it kept in the web process's memory until the ping timeout; past this many unsent bytes
# for too long it is closed instead, the frames dropped are counted and logged, and the page
# catches up from the database when it reconnects (config/websocket_backpressure.py).
# A burst may exceed it for a moment even for a client that reads; one still over it after
# WEBSOCKET_SEND_STALL_SECONDS, or over four times it at any moment, has stopped reading.
WEBSOCKET_SEND_BUFFER_BYTES = env_int("WEBSOCKET_SEND_BUFFER_BYTES", 256 * 1024)
WEBSOCKET_SEND_STALL_SECONDS = env_int("WEBSOCKET_SEND_STALL_SECONDS", 5)
# Threads per web process for sockets' session, user and catch-up reads (each keeps a connection).
WEBSOCKET_DB_THREADS = env_int("WEBSOCKET_DB_THREADS", 8)
# The cyclic garbage collector's first threshold in the web and worker processes (Python's
# default is 700 allocations): every open socket keeps a few hundred tracked objects alive, and a
# fan-out allocates an event dict and a message per frame, so at the default a web process
# holding thousands of sockets spends about 40 % of each frame's CPU walking them. 0 keeps
# Python's. See ``config.collector``.
GC_THRESHOLD = env_int("GC_THRESHOLD", 50_000)
# daphne's line per request and per socket open/close; off in services mode, where thousands of
# sockets reconnecting at once would mostly write log lines.
WEB_ACCESS_LOG = env_bool("WEB_ACCESS_LOG", default=EMBEDDED_MODE)
# Web processes in services mode, sharing one listening socket; 0 means one per CPU core.
WEB_PROCESSES = env_int("WEB_PROCESSES", 0)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# collectstatic target; unset in development, where WhiteNoise serves from the finders.
STATIC_ROOT = env_str("STATIC_ROOT") or (None if DEBUG else BASE_DIR / "staticfiles")
WHITENOISE_USE_FINDERS = DEBUG

# Email: console in development, any Django backend (SMTP included) from the environment.
SMTP_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend" if DEBUG else SMTP_EMAIL_BACKEND
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS")
# Seconds an SMTP connect or reply may take: a server that accepts and then stalls must not hold
# a delivery past its lease (see DELIVERY_CLAIM_SECONDS).
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Herald <herald@localhost>")

# External delivery (notifications/delivery): one provider backend per channel, by dotted path.
_SMS_API_URL = env_str("SMS_API_URL")
DELIVERY_BACKENDS = {
    "email": env_str(
        "DELIVERY_EMAIL_BACKEND", "notifications.delivery.backends.email.DjangoEmailBackend"
    ),
    "push": env_str(
        "DELIVERY_PUSH_BACKEND", "notifications.delivery.backends.webpush.WebPushBackend"
    ),
    "sms": env_str(
        "SMS_BACKEND",
        "notifications.delivery.backends.sms.HttpSmsBackend"
        if _SMS_API_URL
        else "notifications.delivery.backends.sms.ConsoleSmsBackend",
    ),
    "mobile": env_str(
        "DELIVERY_MOBILE_BACKEND", "notifications.delivery.backends.mobile.MobilePushBackend"
    ),
}
# Phone apps: APNs for iOS devices, FCM for Android ones (docs/delivery.md, "Mobile push").
MOBILE_APNS_BACKEND = env_str(
    "MOBILE_APNS_BACKEND", "notifications.delivery.backends.apns.ApnsBackend"
)
MOBILE_FCM_BACKEND = env_str("MOBILE_FCM_BACKEND", "notifications.delivery.backends.fcm.FcmBackend")
MOBILE_PUSH_TIMEOUT_SECONDS = env_int("MOBILE_PUSH_TIMEOUT_SECONDS", 10)
# A CA bundle to trust instead of the system's for APNs/FCM (a private proxy, a test server).
MOBILE_PUSH_CA_FILE = env_str("MOBILE_PUSH_CA_FILE")
APNS_URL = env_str("APNS_URL", "https://api.push.apple.com")
APNS_KEY_ID = env_str("APNS_KEY_ID")
APNS_TEAM_ID = env_str("APNS_TEAM_ID")
# The .p8 signing key: its PEM text, or the path of the file.
APNS_PRIVATE_KEY = env_str("APNS_PRIVATE_KEY")
APNS_TOPIC = env_str("APNS_TOPIC")  # the app's bundle id, for devices registered without one
# Apple refuses provider tokens older than an hour and new ones more often than every 20 min.
APNS_TOKEN_REFRESH_SECONDS = env_int("APNS_TOKEN_REFRESH_SECONDS", 50 * 60)
FCM_URL = env_str("FCM_URL", "https://fcm.googleapis.com")
FCM_PROJECT_ID = env_str("FCM_PROJECT_ID")  # default: the service account's project_id
FCM_SERVICE_ACCOUNT_FILE = env_str("FCM_SERVICE_ACCOUNT_FILE")
FCM_SERVICE_ACCOUNT_JSON = env_str("FCM_SERVICE_ACCOUNT_JSON")
# Account page: how long an email link and an SMS code stay valid; wrong codes allowed.
EMAIL_VERIFICATION_MAX_AGE_SECONDS = env_int("EMAIL_VERIFICATION_MAX_AGE_SECONDS", 3 * 24 * 3600)
PHONE_CODE_TTL_SECONDS = env_int("PHONE_CODE_TTL_SECONDS", 600)
PHONE_CODE_MAX_ATTEMPTS = env_int("PHONE_CODE_MAX_ATTEMPTS", 5)
# Numbers typed without "+country" are read in this region (ISO code, e.g. "DE"); empty = none.
PHONE_DEFAULT_REGION = env_str("PHONE_DEFAULT_REGION").upper() or None
DELIVERY_MAX_ATTEMPTS = env_int("DELIVERY_MAX_ATTEMPTS", 6)
DELIVERY_RETRY_BASE_SECONDS = env_int("DELIVERY_RETRY_BASE_SECONDS", 30)
DELIVERY_RETRY_MAX_SECONDS = env_int("DELIVERY_RETRY_MAX_SECONDS", 3600)
# A worker's lease on a row; a row still claimed after it is treated as orphaned and re-sent.
DELIVERY_CLAIM_SECONDS = env_int("DELIVERY_CLAIM_SECONDS", 300)
DELIVERY_BATCH_SIZE = env_int("DELIVERY_BATCH_SIZE", 200)
# Rows never tried are left this long to the task notify() queued before the sweep sends them.
DELIVERY_ENQUEUE_GRACE_SECONDS = env_int("DELIVERY_ENQUEUE_GRACE_SECONDS", 60)
# A delivery task that runs longer than this is interrupted (the rows it has not tried are given
# back); the hard limit kills its worker process a little later if the soft one is ignored.
DELIVERY_TASK_SOFT_TIME_LIMIT_SECONDS = env_int("DELIVERY_TASK_SOFT_TIME_LIMIT_SECONDS", 900)
DELIVERY_TASK_TIME_LIMIT_SECONDS = env_int(
    "DELIVERY_TASK_TIME_LIMIT_SECONDS", DELIVERY_TASK_SOFT_TIME_LIMIT_SECONDS + 60
)
DELIVERY_BREAKER_THRESHOLD = env_int("DELIVERY_BREAKER_THRESHOLD", 5)
DELIVERY_BREAKER_COOLDOWN_SECONDS = env_int("DELIVERY_BREAKER_COOLDOWN_SECONDS", 60)
DELIVERY_DIGEST_WINDOW_SECONDS = env_int("DELIVERY_DIGEST_WINDOW_SECONDS", 900)
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# Click-through links: relative paths and SITE_URL's origin, plus these hosts (notifications/links.py).
NOTIFICATION_URL_ALLOWED_HOSTS = env_list("NOTIFICATION_URL_ALLOWED_HOSTS")
VAPID_PUBLIC_KEY = env_str("VAPID_PUBLIC_KEY")
VAPID_PRIVATE_KEY = env_str("VAPID_PRIVATE_KEY")
VAPID_SUBJECT = env_str("VAPID_SUBJECT", "mailto:herald@localhost")
# Short: one slow push service must not hold a worker (and the rows behind it) for long.
WEBPUSH_TIMEOUT_SECONDS = env_int("WEBPUSH_TIMEOUT_SECONDS", 3)
# Push endpoints Herald POSTs to: these hosts only (".example.com" = the domain and every name
# under it), and never one that resolves to a loopback, private or link-local address.
WEBPUSH_ALLOWED_HOSTS = env_list(
    "WEBPUSH_ALLOWED_HOSTS",
    "fcm.googleapis.com,updates.push.services.mozilla.com,.push.apple.com,.notify.windows.com",
)
WEBPUSH_ALLOW_PRIVATE_ADDRESSES = env_bool("WEBPUSH_ALLOW_PRIVATE_ADDRESSES", default=False)
WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER = env_int("WEBPUSH_MAX_SUBSCRIPTIONS_PER_USER", 10)
# Without VAPID_* in the environment, embedded mode makes a key pair on first use and keeps it
# in this file (outside the repository's tracked files), so web push works with no setup.
VAPID_KEY_FILE = env_str(
    "VAPID_KEY_FILE", str(BASE_DIR / "var" / "vapid-keys.json") if EMBEDDED_MODE else ""
)
SMS_API_URL = _SMS_API_URL
SMS_API_KEY = env_str("SMS_API_KEY")
SMS_SENDER = env_str("SMS_SENDER")
SMS_API_TIMEOUT_SECONDS = env_int("SMS_API_TIMEOUT_SECONDS", 10)
if DELIVERY_CLAIM_SECONDS <= 2 * max(
    EMAIL_TIMEOUT, WEBPUSH_TIMEOUT_SECONDS, SMS_API_TIMEOUT_SECONDS, MOBILE_PUSH_TIMEOUT_SECONDS
):
    # A claimed row is sent only with twice the longest provider timeout left on its lease.
    raise ImproperlyConfigured(
        "DELIVERY_CLAIM_SECONDS must exceed twice the longest provider timeout (EMAIL_TIMEOUT, "
        "WEBPUSH_TIMEOUT_SECONDS, SMS_API_TIMEOUT_SECONDS, MOBILE_PUSH_TIMEOUT_SECONDS)."
    )
# Delivery tasks get time limits: a provider that stalls past every timeout cannot hold a worker
# (and the rows it leased) for ever. Limits need the prefork pool (the worker's default).
CELERY_TASK_ANNOTATIONS = {
    name: {
        "soft_time_limit": DELIVERY_TASK_SOFT_TIME_LIMIT_SECONDS,
        "time_limit": DELIVERY_TASK_TIME_LIMIT_SECONDS,
    }
    for name in (
        "notifications.delivery.deliver",
        "notifications.delivery.deliver_batch",
        "notifications.delivery.send_email_digest",
    )
}
# Request bodies larger than this are answered 413 before they are read (config/body_limit.py).
REQUEST_MAX_BODY_BYTES = env_int("REQUEST_MAX_BODY_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = REQUEST_MAX_BODY_BYTES
# /api/v1/docs and /api/v1/openapi.json for everyone (else staff only): on in debug mode.
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", default=DEBUG)
# HTTP API: unknown keys per client address (django-ratelimit rate), and how long an
# Idempotency-Key's answer is kept for replays.
API_INVALID_KEY_RATE_LIMIT = env_str("API_INVALID_KEY_RATE_LIMIT", "20/m")
API_IDEMPOTENCY_RETENTION_HOURS = env_int("API_IDEMPOTENCY_RETENTION_HOURS", 24)
# HTTP API (/api/v1/): requests per API key per minute.
API_RATE_LIMIT_PER_MINUTE = env_int("API_RATE_LIMIT_PER_MINUTE", 120)
# Apps whose objects API clients may name as a notification's subject ("events.event:12").
API_SUBJECT_APPS = env_list("API_SUBJECT_APPS", "events,leaderboard")

# GraphQL API (/graphql/): limits per operation, largest page, introspection (on in debug).
GRAPHQL_MAX_DEPTH = env_int("GRAPHQL_MAX_DEPTH", 10)
GRAPHQL_MAX_COST = env_int("GRAPHQL_MAX_COST", 5000)
GRAPHQL_MAX_TOKENS = env_int("GRAPHQL_MAX_TOKENS", 2000)
GRAPHQL_MAX_PAGE_SIZE = env_int("GRAPHQL_MAX_PAGE_SIZE", 100)
GRAPHQL_INTROSPECTION = env_bool("GRAPHQL_INTROSPECTION", DEBUG)

# Notification pipeline: per-recipient, per-kind rate limit (fixed windows) and retention.
NOTIFICATIONS_RATE_LIMIT_COUNT = env_int("NOTIFICATIONS_RATE_LIMIT_COUNT", 5)
NOTIFICATIONS_RATE_LIMIT_WINDOW_SECONDS = env_int("NOTIFICATIONS_RATE_LIMIT_WINDOW_SECONDS", 60)
NOTIFICATIONS_READ_RETENTION_DAYS = env_int("NOTIFICATIONS_READ_RETENTION_DAYS", 30)
NOTIFICATIONS_UNREAD_RETENTION_DAYS = env_int("NOTIFICATIONS_UNREAD_RETENTION_DAYS", 180)
NOTIFICATIONS_PURGE_BATCH_SIZE = env_int("NOTIFICATIONS_PURGE_BATCH_SIZE", 10000)
# A notify() whose after-commit work has not all gone out after this many seconds (the broker or
# Redis was down at commit) is sent again from the database by the every-minute relay.
NOTIFICATIONS_RELAY_GRACE_SECONDS = env_int("NOTIFICATIONS_RELAY_GRACE_SECONDS", 60)
# A notify() with at most this many toasts pushes them to the open pages itself, right after its
# commit (one channel-layer message carries 2,000); larger audiences, and notify_many() batches
# of several requests (the bulk API), go through Celery in batches. 0: always through Celery.
NOTIFICATIONS_INLINE_PUSH_MAX = env_int("NOTIFICATIONS_INLINE_PUSH_MAX", 2000)

# Operations (operations/): Prometheus metrics, the status endpoint, alerts.
# Every process (web, worker, beat) writes its metrics to files in one directory and /metrics
# sums them (prometheus-client's multiprocess mode). The library reads the variable when it is
# first imported, so it is put into the environment here, before any metric exists.
METRICS_DIR = env_str("PROMETHEUS_MULTIPROC_DIR") or str(BASE_DIR / "var" / "metrics")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = METRICS_DIR
os.makedirs(METRICS_DIR, exist_ok=True)
# A scraper sends "Authorization: Bearer <token>"; staff sessions need none. Empty = staff only.
METRICS_TOKEN = env_str("METRICS_TOKEN")
# WebSockets one web process is sized for; more raises the socket-budget alert.
WEBSOCKET_BUDGET_PER_PROCESS = env_int("WEBSOCKET_BUDGET_PER_PROCESS", 5000)
# Alert thresholds (operations/alerts.py, run every minute by beat).
ALERT_DEAD_LETTERS_WINDOW_SECONDS = env_int("ALERT_DEAD_LETTERS_WINDOW_SECONDS", 900)
ALERT_DEAD_LETTERS_THRESHOLD = env_int("ALERT_DEAD_LETTERS_THRESHOLD", 10)
ALERT_QUEUE_AGE_SECONDS = env_int("ALERT_QUEUE_AGE_SECONDS", 300)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
        # One INFO line per provider request (a push, an SMS) would be one per delivery: the
        # Delivery row records the outcome instead.
        "httpx": {"level": "WARNING"},
    },
}
