"""Configuration from environment variables, with demo-safe defaults (SPEC §11)."""
from __future__ import annotations

import os
import secrets
from pathlib import Path


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def instance_secret(instance_path: Path) -> str:
    """A per-instance secret key kept in the instance folder, never in git."""
    path = instance_path / "secret_key"
    if not path.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        # Written aside then linked: several workers starting together never read a half file,
        # and the one that loses the race reads the winner's key.
        temporary = instance_path / f".secret_key.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(temporary)
    return path.read_text().strip()


class Config:
    """Read once by create_app(); a dict passed to create_app() overrides any key."""

    def __init__(self, environ: dict | None = None):
        env = os.environ if environ is None else environ
        self.INSTANCE_PATH = Path(env.get("RADESK_INSTANCE_PATH", "instance")).resolve()
        self.DATABASE_URL = env.get("DATABASE_URL") or f"sqlite:///{self.INSTANCE_PATH / 'radesk.db'}"
        self.SECRET_KEY = env.get("SECRET_KEY")  # else generated into the instance folder
        self.MAIL_SERVER = env.get("MAIL_SERVER") or None
        self.MAIL_PORT = int(env.get("MAIL_PORT", "25"))
        self.MAIL_USE_TLS = _bool(env.get("MAIL_USE_TLS"))
        self.MAIL_USE_SSL = _bool(env.get("MAIL_USE_SSL"))
        self.MAIL_USERNAME = env.get("MAIL_USERNAME") or None
        self.MAIL_PASSWORD = env.get("MAIL_PASSWORD") or None
        self.MAIL_DEFAULT_SENDER = env.get("MAIL_DEFAULT_SENDER", "RA Desk <no-reply@radesk.example>")
        self.PKCS11_MODULE = env.get("PKCS11_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
        self.RADESK_BRIDGE_URL = env.get("RADESK_BRIDGE_URL", "http://127.0.0.1:8765")
        self.RADESK_TRUSTED_PROXIES = [
            p.strip() for p in env.get("RADESK_TRUSTED_PROXIES", "").split(",") if p.strip()
        ]
        # What nginx adds to every request it forwards (X-RADesk-Proxy-Secret): without it,
        # the certificate login through the proxy is off.
        self.RADESK_PROXY_SECRET = env.get("RADESK_PROXY_SECRET") or None
        self.RADESK_PUBLIC_URL = env.get("RADESK_PUBLIC_URL", "http://127.0.0.1:5000")
        # Origins the extranet is served from: the bridge's signed login message must name one.
        self.RADESK_LOGIN_ORIGINS = [
            o.strip() for o in env.get(
                "RADESK_LOGIN_ORIGINS", "http://127.0.0.1:5000,http://localhost:5000").split(",")
            if o.strip()
        ]
        self.SESSION_IDLE_MINUTES = int(env.get("RADESK_SESSION_IDLE_MINUTES", "30"))
        # Absolute lifetime of an operator session, however active: a new login after it.
        self.SESSION_MAX_HOURS = float(env.get("RADESK_SESSION_MAX_HOURS", "12"))
        # Ended login sessions are deleted after this many days (the logins stay in the audit
        # trail); each operator's latest is kept for « Dernière connexion ».
        self.SESSION_KEEP_DAYS = int(env.get("RADESK_SESSION_KEEP_DAYS", "90"))
        self.LOGIN_NONCE_SECONDS = int(env.get("RADESK_LOGIN_NONCE_SECONDS", "120"))
        self.LOGIN_RATE_LIMIT = env.get("RADESK_LOGIN_RATE_LIMIT", "10 per minute")
        self.RATELIMIT_STORAGE_URI = env.get("RATELIMIT_STORAGE_URI", "memory://")
        # Several RA Desk installations (or test runs) may share one Redis: each its own keys.
        self.RATELIMIT_KEY_PREFIX = env.get("RATELIMIT_KEY_PREFIX", "radesk")
        # Redis unreachable: count in each process's memory meanwhile rather than answer 500.
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.SESSION_COOKIE_SECURE = _bool(env.get("RADESK_SECURE_COOKIES"))
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.WTF_CSRF_TIME_LIMIT = None  # the session's idle timeout bounds the token's life
        self.ORDERS_PER_PAGE = 50
        # Certificate generation: where holder certificates say the CRL, CA
        # certificate and PDS are published; the CA and SMS gateway to use ("module:factory").
        self.RADESK_PKI_URL = env.get("RADESK_PKI_URL") or None
        self.RADESK_HOLDER_CA = env.get("RADESK_HOLDER_CA") or None
        self.RADESK_SMS_GATEWAY = env.get("RADESK_SMS_GATEWAY") or None
        # Documents: upload limits, and the bounds of one preview render.
        self.DOCUMENT_MAX_MB = float(env.get("RADESK_DOCUMENT_MAX_MB", "20"))
        self.DOCUMENT_MAX_PAGES = int(env.get("RADESK_DOCUMENT_MAX_PAGES", "200"))
        self.DOCUMENT_MAX_PIXELS = int(env.get("RADESK_DOCUMENT_MAX_PIXELS", "40000000"))
        self.PREVIEW_TIMEOUT_SECONDS = float(env.get("RADESK_PREVIEW_TIMEOUT_SECONDS", "20"))
        self.PREVIEW_MEMORY_MB = int(env.get("RADESK_PREVIEW_MEMORY_MB", "1024"))
        # Renders and document checks at once on this server (every process); 0: one per core.
        self.RENDER_SLOTS = int(env.get("RADESK_RENDER_SLOTS", "0"))
        self.RENDER_WAIT_SECONDS = float(env.get("RADESK_RENDER_WAIT_SECONDS", "10"))
        # The preview cache, pruned hourly: the least recently viewed previews go first.
        self.PREVIEW_CACHE_MAX_MB = float(env.get("RADESK_PREVIEW_CACHE_MAX_MB", "2048"))
        self.PREVIEW_CACHE_MAX_DAYS = float(env.get("RADESK_PREVIEW_CACHE_MAX_DAYS", "30"))
        # --- Notifications, outbox and the requester's follow-up page ---
        self.MAIL_TIMEOUT = float(env.get("MAIL_TIMEOUT", "30"))  # seconds per SMTP exchange
        self.MAIL_SUPPRESS_SEND = False  # Flask-Mail would otherwise not send when TESTING
        self.RADESK_SCHEDULER = _bool(env.get("RADESK_SCHEDULER"))  # run jobs in the server too
        self.RADESK_OUTBOX_INTERVAL_SECONDS = float(env.get("RADESK_OUTBOX_INTERVAL_SECONDS", "15"))
        self.RADESK_OUTBOX_MAX_TRIES = int(env.get("RADESK_OUTBOX_MAX_TRIES", "8"))
        self.RADESK_OUTBOX_BACKOFF_SECONDS = float(env.get("RADESK_OUTBOX_BACKOFF_SECONDS", "60"))
        self.RADESK_FOLLOWUP_LINK_DAYS = int(env.get("RADESK_FOLLOWUP_LINK_DAYS", "30"))
        # How often the worker of « Actions sur la sélection » looks for a job (also woken).
        self.RADESK_BULK_INTERVAL_SECONDS = float(env.get("RADESK_BULK_INTERVAL_SECONDS", "5"))
        # How often the reading job looks for pieces waiting to be read (an import wakes it).
        self.RADESK_PIECE_READING_INTERVAL_SECONDS = float(
            env.get("RADESK_PIECE_READING_INTERVAL_SECONDS", "30"))
        # The reader's processes yield the CPU to the pages (nice): a read is never awaited.
        self.RADESK_PIECE_READING_NICENESS = int(env.get("RADESK_PIECE_READING_NICENESS", "10"))
        # --- Orders placed on the portals' ordering pages ---
        self.RADESK_API_RATE_LIMIT = env.get("RADESK_API_RATE_LIMIT", "600 per minute")
        self.RADESK_DRAFT_DAYS = int(env.get("RADESK_DRAFT_DAYS", "30"))  # then cancelled
        self.RADESK_ORDERING_LIMIT_PER_ADDRESS = env.get("RADESK_ORDERING_LIMIT_PER_ADDRESS",
                                                         "20 per hour;100 per day")
        self.RADESK_ORDERING_LIMIT_PER_PORTAL = env.get("RADESK_ORDERING_LIMIT_PER_PORTAL",
                                                        "300 per hour")
        # --- Signature of the contractual documents ---
        self.RADESK_SIGNATURE_LINK_DAYS = int(env.get("RADESK_SIGNATURE_LINK_DAYS", "14"))
        self.RADESK_SIGNATURE_REMINDER_HOURS = float(env.get("RADESK_SIGNATURE_REMINDER_HOURS", "72"))
        self.RADESK_SIGNATURE_MAX_REMINDERS = int(env.get("RADESK_SIGNATURE_MAX_REMINDERS", "3"))
        self.RADESK_SIGNATURE_CODE_CHANNEL = env.get("RADESK_SIGNATURE_CODE_CHANNEL", "email")
        # --- Webhooks (Standard Webhooks) to the AEs' systems ---
        # http:// endpoints are for tests and demos only: production receivers are https://.
        self.RADESK_WEBHOOKS_ALLOW_HTTP = _bool(env.get("RADESK_WEBHOOKS_ALLOW_HTTP"))
        self.RADESK_WEBHOOKS_INTERVAL_SECONDS = float(env.get("RADESK_WEBHOOKS_INTERVAL_SECONDS", "10"))
        self.RADESK_WEBHOOKS_MAX_TRIES = int(env.get("RADESK_WEBHOOKS_MAX_TRIES", "10"))
        self.RADESK_WEBHOOKS_BACKOFF_SECONDS = float(env.get("RADESK_WEBHOOKS_BACKOFF_SECONDS", "30"))
        self.RADESK_WEBHOOKS_TIMEOUT_SECONDS = float(env.get("RADESK_WEBHOOKS_TIMEOUT_SECONDS", "10"))
        # CA certificates (PEM file) trusted for the receivers' TLS; empty: the usual bundle.
        self.RADESK_WEBHOOKS_CA_BUNDLE = env.get("RADESK_WEBHOOKS_CA_BUNDLE") or None
        # How often the audit chain's head is signed into <instance>/audit/checkpoints.jsonl.
        self.RADESK_AUDIT_CHECKPOINT_MINUTES = float(env.get("RADESK_AUDIT_CHECKPOINT_MINUTES", "60"))
        # --- Operations: health (/sante), Prometheus metrics (/metrics), logs ---
        self.RADESK_LOG_FORMAT = (env.get("RADESK_LOG_FORMAT") or "text").strip().lower()
        # Without it /metrics answers only the loopback (a scraper on the same host).
        self.RADESK_METRICS_TOKEN = env.get("RADESK_METRICS_TOKEN") or None
        self.RADESK_HEALTH_RATE_LIMIT = env.get("RADESK_HEALTH_RATE_LIMIT", "60 per minute")
        self.RADESK_HEALTH_OUTBOX_MAX_AGE_MINUTES = float(
            env.get("RADESK_HEALTH_OUTBOX_MAX_AGE_MINUTES", "15"))
        self.RADESK_HEALTH_OUTBOX_MAX_FAILED = int(env.get("RADESK_HEALTH_OUTBOX_MAX_FAILED", "10"))
        self.RADESK_HEALTH_HEARTBEAT_GRACE_MINUTES = float(
            env.get("RADESK_HEALTH_HEARTBEAT_GRACE_MINUTES", "10"))
        # --- Request bodies and the public pages' rate (blueprints.request_guards) ---
        # MAX_CONTENT_LENGTH follows RADESK_DOCUMENT_MAX_MB (plus the multipart envelope) on the
        # upload routes; every other route takes a form of this many Kio at most.
        self.RADESK_FORM_MAX_KB = int(env.get("RADESK_FORM_MAX_KB", "1024"))
        self.RADESK_PUBLIC_RATE_LIMIT = env.get("RADESK_PUBLIC_RATE_LIMIT", "120 per minute")
        self.RADESK_OCSP_RATE_LIMIT = env.get("RADESK_OCSP_RATE_LIMIT", "1200 per minute")

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k.isupper()}
