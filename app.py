"""Application factory: configuration, database, extensions, blueprints, CLI, and what each
feature plugs into the shared machinery (outbox composers, notification types, jobs)."""
from __future__ import annotations

from pathlib import Path

from flask import Flask, request
from flask_wtf.csrf import CSRFProtect

import scheduler
from adapters import mail
from adapters.preview_cache import prune_job as preview_cache_job
from adapters.ca.embedded import refresh_job as pki_refresh_job
from config import Config, instance_secret
from database import (close_pooled_connections, migrate_database, open_database,
                      refresh_planner_statistics)
from extensions import htmx, limiter
from models import db
from scheduler import Job, every, register_jobs
from services import audit_anchor, digest, validation
from services.bulk import jobs as bulk_jobs
from services.orders import substate_tally
from services.certificates import revocation_messages
from services.certificates import activation_messages
from services.dossiers import documents, piece_readings
from services.intake import expiry as draft_expiry, messages as intake_messages
from services.messaging import outbox, wordings
from services.messaging.notifications import register_notification_types
from services.messaging.outbox import register_outbox_composer, register_outbox_wake
from services.operator_auth import sessions as login_sessions
from services.orders import requester_reminders
from services.renewal import messages as renewal_messages
from services.renewal import expiry_reminders
from services.signing import messages as signing_messages, reminders, signatures
from services.webhooks import delivery as webhook_delivery

csrf = CSRFProtect()


def create_app(config: dict | None = None) -> Flask:
    settings = Config().as_dict()
    settings.update(config or {})
    instance_path = Path(settings["INSTANCE_PATH"]).resolve()
    instance_path.mkdir(parents=True, exist_ok=True)
    settings["INSTANCE_PATH"] = instance_path

    app = Flask(__name__, instance_path=str(instance_path))
    app.config.update(settings)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = instance_secret(instance_path)

    audit_anchor.init_app(app)  # the audit chain's key, from the instance folder (v32 uses it)
    database = open_database(app.config["DATABASE_URL"])
    with database.connection_context():
        migrate_database(database)
        refresh_planner_statistics(database)
    close_pooled_connections(database)  # a server that forks workers must not share them

    from blueprints import request_guards
    request_guards.init_app(app)  # body size and origin checked before CSRFProtect reads the form
    csrf.init_app(app)
    limiter.init_app(app)
    htmx.init_app(app)
    from blueprints.common import init_operator_sessions
    init_operator_sessions(app)  # Flask-Login over the server-side login sessions
    mail.init_app(app)
    documents.init_app(app)  # finish the imports a crashed process left
    scheduler.init_app(app)  # CLI « scheduler », « outbox », « digest »; RADESK_SCHEDULER=1
    from blueprints import operations
    operations.init_app(app)  # /sante, /metrics, request ids and metrics, JSON logs
    _register_request_hooks(app)
    _register_blueprints(app)
    _register_template_helpers(app)
    _register_error_pages(app)

    # Notification types, in French (history, audit trail).
    register_notification_types(app, wordings.TYPE_LABELS)
    register_notification_types(app, signatures.TYPE_LABELS)
    register_notification_types(app, validation.TYPE_LABELS)
    register_notification_types(app, digest.TYPE_LABELS)
    register_notification_types(app, intake_messages.TYPE_LABELS)
    register_notification_types(app, requester_reminders.TYPE_LABELS)
    register_notification_types(app, renewal_messages.TYPE_LABELS)
    register_notification_types(app, expiry_reminders.TYPE_LABELS)
    register_notification_types(app, revocation_messages.TYPE_LABELS)
    register_notification_types(app, activation_messages.TYPE_LABELS)
    # E-mails written when they leave the outbox; the other types are letters to the requester.
    register_outbox_composer(app, signatures.SIGNER_TYPES, signing_messages.compose_signer_message)
    register_outbox_composer(app, [digest.TYPE_DIGEST], digest.compose)
    register_outbox_composer(app, intake_messages.CODE_TYPES, intake_messages.compose_code)
    register_outbox_composer(app, [expiry_reminders.TYPE_EXPIRY], expiry_reminders.compose)
    register_outbox_composer(app, revocation_messages.TYPES, revocation_messages.compose)
    register_outbox_composer(app, activation_messages.TYPES, activation_messages.compose)
    # Something queued: the scheduler of this process (if any) runs the outbox now.
    register_outbox_wake(app, scheduler.wake)
    # An action on the selection was asked: the scheduler of this process (if any) starts it now.
    bulk_jobs.register_wake(app, lambda app: scheduler.wake_job(app, scheduler.BULK_ACTIONS_JOB))
    register_jobs(
        app,
        Job(scheduler.OUTBOX_JOB, outbox.job,
            every(seconds=app.config["RADESK_OUTBOX_INTERVAL_SECONDS"])),
        Job(scheduler.SIGNATURE_REMINDERS_JOB, reminders.job, every(minutes=15)),
        Job(scheduler.DIGEST_JOB, digest.job, every(seconds=60)),
        Job(scheduler.DRAFT_EXPIRY_JOB, draft_expiry.job, every(hours=1)),
        Job(scheduler.REQUESTER_REMINDERS_JOB, requester_reminders.job, every(hours=1)),
        Job(scheduler.DOCUMENT_CLEANUP_JOB, documents.cleanup_job, every(hours=1)),
        Job(scheduler.WEBHOOKS_JOB, webhook_delivery.job,
            every(seconds=app.config["RADESK_WEBHOOKS_INTERVAL_SECONDS"])),
        Job(scheduler.BULK_ACTIONS_JOB, bulk_jobs.job,
            every(seconds=app.config["RADESK_BULK_INTERVAL_SECONDS"])),
        Job(scheduler.BULK_EXPORTS_CLEANUP_JOB, bulk_jobs.cleanup_job, every(hours=1)),
        Job(scheduler.EXPIRY_REMINDERS_JOB, expiry_reminders.job, every(hours=1)),
        Job(scheduler.LOGIN_SESSIONS_PURGE_JOB, login_sessions.purge_job, every(hours=1)),
    )
    # The embedded CA's CRLs re-issued before their nextUpdate (and daily), OCSP signer renewed.
    register_jobs(app, Job(scheduler.PKI_REFRESH_JOB, pki_refresh_job, every(hours=1)))
    # The audit chain's head signed into <instance>/audit/checkpoints.jsonl.
    register_jobs(app, Job(scheduler.AUDIT_CHECKPOINT_JOB, audit_anchor.job,
                           every(minutes=app.config["RADESK_AUDIT_CHECKPOINT_MINUTES"])))
    # The preview cache kept within its age and size (least recently viewed removed first).
    register_jobs(app, Job(scheduler.PREVIEW_CACHE_JOB, preview_cache_job, every(hours=1)))
    # The Commandes list's counters: the rows the order triggers append, summed up.
    register_jobs(app, Job(scheduler.ORDER_TALLY_JOB, substate_tally.job, every(minutes=1)))
    # « Lu sur la pièce »: the identity documents and KBIS extracts waiting to be read, read
    # now when an import or « Relire la pièce » queued one in this process.
    piece_readings.register_wake(
        app, lambda app: scheduler.wake_job(app, scheduler.PIECE_READING_JOB))
    register_jobs(app, Job(scheduler.PIECE_READING_JOB, piece_readings.job,
                           every(seconds=app.config["RADESK_PIECE_READING_INTERVAL_SECONDS"])))

    from cli import register_cli
    register_cli(app)
    return app


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def open_connection():
        if getattr(app.view_functions.get(request.endpoint), "opens_database_itself", False):
            return  # /sante reports a database that does not answer instead of failing on it
        db.connect(reuse_if_open=True)

    @app.teardown_request
    def close_connection(exc):
        if not db.is_closed():
            db.close()

    @app.after_request
    def security_headers(response):
        bridge = app.config["RADESK_BRIDGE_URL"].rstrip("/")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self' {bridge}; frame-ancestors 'none'; form-action 'self'; "
            "base-uri 'none'; object-src 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if request.method == "GET":
            response.vary.add("HX-Request")  # HTMX requests get a fragment, others the page
        return response


def _register_blueprints(app: Flask) -> None:
    from blueprints import (activation, admin, admin_journal, api_clients_admin, auth, followup,
                            generation, handling, notifications, operator_keys,
                            order_file, ordering, orders, pki, signature, signing, validation,
                            viewer, webhooks_admin)

    for module in (auth, orders, order_file, pki, viewer, notifications, followup, ordering,
                   generation, activation, signature, signing, validation, admin,
                   api_clients_admin, webhooks_admin, admin_journal, handling, operator_keys):
        app.register_blueprint(module.bp)
    from blueprints import ae_settings, portals_admin
    app.register_blueprint(portals_admin.bp)  # Administration › Portails
    app.register_blueprint(ae_settings.bp)  # Administration › Paramètres de l'AE
    from blueprints import contract_texts_admin
    app.register_blueprint(contract_texts_admin.bp)
    from blueprints import key_stock_admin
    app.register_blueprint(key_stock_admin.bp)
    from blueprints import bulk
    app.register_blueprint(bulk.bp)  # « Actions sur la sélection » of the Commandes list
    from blueprints import statistics
    app.register_blueprint(statistics.bp)  # « Statistiques »
    from blueprints import renewal
    app.register_blueprint(renewal.bp)  # Renouvellement: the reminder's link, « Renouveler »
    from blueprints import revocation, revocation_desk
    app.register_blueprint(revocation.bp)  # « Révoquer mon certificat » (public, /revoquer)
    app.register_blueprint(revocation_desk.bp)  # « Révoquer », « Rejeter la demande »
    from blueprints import certificates
    app.register_blueprint(certificates.bp)  # « Certificats »
    from blueprints import followup_links
    app.register_blueprint(followup_links.bp)  # « Révoquer le lien de suivi »
    from blueprints import contact
    app.register_blueprint(contact.bp)  # « Contacter le Service AE »
    from blueprints import piece_checks
    app.register_blueprint(piece_checks.bp)  # « Lu sur la pièce », « Relire la pièce »
    from blueprints import admin_sections, api
    admin_sections.register(app)
    app.register_blueprint(api.bp)
    csrf.exempt(api.bp)  # bearer credentials, no cookie: nothing for a forged request to ride on
    csrf.exempt(pki.bp)  # public OCSP requests POSTed by relying parties: no session involved
    api.spec.app = app  # what spectree reads the routes from (it serves no page of its own)


ERROR_PAGES = {
    400: ("Requête refusée", "La requête est invalide ou sa protection CSRF a expiré : rechargez la page."),
    403: ("Accès refusé", "Votre rôle ne permet pas cette action."),
    404: ("Page introuvable", "Cette page n'existe pas ou vous n'y avez pas accès."),
    405: ("Méthode non autorisée", "Cette action n'est pas possible ainsi."),
    429: ("Trop de demandes", "Trop de demandes depuis votre connexion : patientez quelques "
                              "minutes avant de réessayer."),
    500: ("Erreur interne", "Une erreur inattendue est survenue ; elle a été journalisée."),
}


def _register_error_pages(app: Flask) -> None:
    from flask import render_template
    from flask_wtf.csrf import CSRFError

    def render_error(code: int, message: str | None = None):
        if request.path.startswith("/api/"):
            from blueprints.api import api_error
            return api_error(code)
        title, default = ERROR_PAGES[code]
        return render_template("errors/error.html", title=title, message=message or default), code

    for code in ERROR_PAGES:
        app.register_error_handler(code, lambda error, code=code: render_error(code))
    app.register_error_handler(
        CSRFError, lambda error: render_error(400, "Jeton CSRF manquant ou expiré : rechargez la page."))


def _register_template_helpers(app: Flask) -> None:
    import workflow
    from blueprints.common import current_operator
    from formatting import of_name, paris_date, paris_datetime, paris_time, readable_dn

    app.jinja_env.filters["date_fr"] = paris_date
    app.jinja_env.filters["datetime_fr"] = paris_datetime
    app.jinja_env.filters["time_fr"] = paris_time
    app.jinja_env.filters["siren"] = workflow.format_siren
    app.jinja_env.filters["phase_label"] = lambda code: workflow.label(workflow.PHASES, code)
    app.jinja_env.filters["process_label"] = lambda code: workflow.label(workflow.PROCESSES, code)
    app.jinja_env.filters["substate_label"] = lambda code: workflow.label(workflow.SUBSTATES, code)
    app.jinja_env.filters["medium_label"] = lambda code: workflow.label(workflow.MEDIA, code)
    app.jinja_env.globals["shows_requester_change"] = workflow.shows_requester_change
    app.jinja_env.filters["of_name"] = of_name
    app.jinja_env.filters["dn"] = readable_dn

    @app.context_processor
    def inject_operator():
        return {"operator": current_operator()}
