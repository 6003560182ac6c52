"""Command-line tools: `flask --app app <command>` (SPEC §11)."""
from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import click
from cryptography import x509
from flask import Flask, current_app
from flask.cli import AppGroup

from models import db


def register_cli(app: Flask) -> None:
    app.cli.add_command(audit_cli)
    app.cli.add_command(db_cli)
    app.cli.add_command(operator_cli)
    app.cli.add_command(order_cli)
    app.cli.add_command(api_client_cli)
    app.cli.add_command(seed_demo)
    app.cli.add_command(backup_cli)


audit_cli = AppGroup("audit", help="Piste d'audit.")


@audit_cli.command("verify")
def audit_verify():
    """Vérifie la piste d'audit : chaînage, clé de l'instance, tête, points de contrôle signés
    (code de sortie 1 si rompue)."""
    from models import AuditEvent
    from services import audit_anchor

    with db.connection_context():
        report = audit_anchor.verify(current_app)
        count = AuditEvent.select().count()
    if report.problems:
        for problem in report.problems[:MAX_PROBLEMS_SHOWN]:
            click.echo(f"ERREUR : {problem.message}", err=True)
        if len(report.problems) > MAX_PROBLEMS_SHOWN:
            click.echo(f"… et {len(report.problems) - MAX_PROBLEMS_SHOWN} autre(s).", err=True)
        click.echo(f"Piste d'audit rompue ({len(report.problems)} problème(s) sur {count} événements).", err=True)
        sys.exit(1)
    click.echo(f"Piste d'audit intègre : {count} événements vérifiés.")
    click.echo(f"{report.checkpoints} point(s) de contrôle concordant(s).")


MAX_PROBLEMS_SHOWN = 50  # a rewritten chain breaks every row after the edit


@audit_cli.command("checkpoint")
def audit_checkpoint():
    """Signe maintenant la tête de la piste d'audit dans le fichier des points de contrôle."""
    from services import audit_anchor

    with db.connection_context():
        try:
            checkpoint = audit_anchor.write_checkpoint(current_app)
        except audit_anchor.CheckpointRefused as refused:
            click.echo(f"ERREUR : {refused.message}", err=True)
            sys.exit(1)
    click.echo(f"Point de contrôle écrit : {checkpoint.seq} événements, "
               f"dans {audit_anchor.folder(current_app) / audit_anchor.CHECKPOINTS}.")


db_cli = AppGroup("db", help="Base de données.")


@db_cli.command("migrate")
def db_migrate():
    """Met le schéma à jour (aussi fait à chaque démarrage)."""
    from database import migrate_database

    with db.connection_context():
        version = migrate_database(db.obj)
    click.echo(f"Schéma à jour (version {version}).")


operator_cli = AppGroup("operator", help="Opérateurs.")


@operator_cli.command("add")
@click.option("--ae", "ae_name", required=True, help="Nom de l'AE.")
@click.option("--name", required=True, help="Nom affiché de l'opérateur.")
@click.option("--email", default=None)
@click.option("--roles", default="AEA", help="Rôles séparés par des virgules : AEA,AET,admin.")
@click.option("--portal", "portals", multiple=True, help="Limiter à ces portails (répétable).")
@click.option("--cert", "cert_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="Certificat (PEM ou DER) à associer à l'opérateur.")
def operator_add(ae_name, name, email, roles, portals, cert_path):
    """Crée un opérateur et lui associe un certificat."""
    from models import AE, OperatorPortal, Portal, ROLES, Operator
    from services import audit
    from services.operator_auth.login import CertificateAlreadyBound, bind_certificate

    role_list = [r.strip() for r in roles.split(",") if r.strip()]
    unknown = [r for r in role_list if r not in ROLES]
    if unknown or not role_list:
        raise click.BadParameter(f"rôle(s) inconnu(s) : {', '.join(unknown) or '(aucun)'}", param_hint="--roles")
    certificate = _read_certificate(cert_path)
    with db.connection_context(), db.atomic():
        ae = AE.get_or_none(AE.name == ae_name)
        if ae is None:
            raise click.BadParameter(f"AE « {ae_name} » inconnue.", param_hint="--ae")
        portal_rows = list(Portal.select().where((Portal.ae == ae) & (Portal.name.in_(portals))))
        if len(portal_rows) != len(set(portals)):
            raise click.BadParameter("portail inconnu pour cette AE.", param_hint="--portal")
        operator = Operator.create(ae=ae, display_name=name, email=email, roles=",".join(role_list),
                                   all_portals=not portals)
        for portal in portal_rows:
            OperatorPortal.create(operator=operator, portal=portal)
        try:
            bind_certificate(operator, certificate)
        except CertificateAlreadyBound as refused:
            raise click.ClickException(refused.message)
        audit.record("operator_created", ae=ae, actor="ligne de commande",
                     details={"operator": name, "roles": role_list, "portals": list(portals)})
    click.echo(f"Opérateur « {name} » créé (id {operator.id}) pour l'AE « {ae_name} ».")


@operator_cli.command("deactivate")
@click.option("--id", "operator_id", required=True, type=int, help="N° de l'opérateur.")
def operator_deactivate(operator_id):
    """Désactive un opérateur ; ses sessions ouvertes prennent fin aussitôt."""
    operator, ended = _switch_operator(operator_id, active=False)
    click.echo(f"Opérateur « {operator.display_name} » désactivé ({ended} session(s) fermée(s)).")


@operator_cli.command("activate")
@click.option("--id", "operator_id", required=True, type=int, help="N° de l'opérateur.")
def operator_activate(operator_id):
    """Réactive un opérateur désactivé."""
    operator, _ = _switch_operator(operator_id, active=True)
    click.echo(f"Opérateur « {operator.display_name} » réactivé.")


def _switch_operator(operator_id: int, *, active: bool):
    """The operator, and how many of their sessions ended (deactivation ends them all)."""
    import workflow
    from services.administration import set_operator_active

    with db.connection_context():
        operator = _operator(operator_id)
        try:
            return operator, set_operator_active(operator, active, actor="ligne de commande")
        except workflow.Refused as refused:  # the AE's last active administrator
            raise click.ClickException(refused.message) from None


@operator_cli.command("unbind-cert")
@click.option("--cert", "cert_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Certificat (PEM ou DER) à dissocier.")
@click.option("--fingerprint", default=None, help="Ou son empreinte SHA-256 (hexadécimal).")
def operator_unbind_cert(cert_path, fingerprint):
    """Dissocie un certificat de son opérateur ; les sessions ouvertes avec lui prennent fin."""
    from adapters.ca import fingerprint_sha256
    from models import OperatorCertificate
    from services.operator_auth.login import unbind_certificate

    if (cert_path is None) == (fingerprint is None):
        raise click.UsageError("indiquez --cert ou --fingerprint (l'un des deux).")
    wanted = (fingerprint_sha256(_read_certificate(cert_path)) if cert_path
              else fingerprint.replace(":", "").strip().lower())
    with db.connection_context():
        certificate = OperatorCertificate.get_or_none(
            OperatorCertificate.fingerprint_sha256 == wanted)
        if certificate is None:
            raise click.ClickException("aucun opérateur n'a ce certificat.")
        name = certificate.operator.display_name
        ended = unbind_certificate(certificate, actor="ligne de commande")
    click.echo(f"Certificat dissocié de « {name} » ({ended} session(s) fermée(s)).")


def _operator(operator_id: int):
    from models import Operator

    operator = Operator.get_or_none(Operator.id == operator_id)
    if operator is None:
        raise click.BadParameter(f"aucun opérateur n° {operator_id}.", param_hint="--id")
    return operator


def _read_certificate(path: str) -> x509.Certificate:
    data = open(path, "rb").read()
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise click.BadParameter("fichier de certificat illisible.", param_hint="--cert")


def operator_reference(who: str) -> str:
    """An operator as the command line names it, with the demo's keys (demo-aea…) standing
    for their operators' e-mail addresses; the demo's names stay out of the services."""
    from demo.seed import DEMO_KEYS

    return next((key.email for key in DEMO_KEYS if key.label == (who or "").strip()), who)


order_cli = AppGroup("order", help="Commandes.")


def _order_numbered(number: int):
    """The order N° ``number`` (the caller holds a connection), or the command's error."""
    from models import Order
    order = Order.get_or_none(Order.number == number)
    if order is None:
        raise click.ClickException(f"Aucune commande N° {number}.")
    return order


@order_cli.command("followup-link")
@click.option("--number", required=True, type=int, help="N° de la commande.")
def order_followup_link(number: int):
    """Affiche un lien vers la page de suivi d'une commande (pour le redonner au demandeur)."""
    from flask import current_app
    from services.messaging.followup import make_link

    with db.connection_context():
        link, expires = make_link(current_app, _order_numbered(number).id)
    click.echo(link)
    click.echo(f"Valable jusqu'au {expires:%d/%m/%Y}.", err=True)


@order_cli.command("renewal-link")
@click.option("--number", required=True, type=int, help="N° de la commande « Terminée ».")
def order_renewal_link(number: int):
    """Affiche le lien de renouvellement du certificat d'une commande (celui des relances)."""
    from flask import current_app
    from services.renewal.links import renewal_url
    from services.renewal.orders import renewable_certificate

    with db.connection_context():
        certificate = renewable_certificate(_order_numbered(number))
        if certificate is None:
            raise click.ClickException(f"La commande N° {number} n'a pas de certificat valide "
                                       f"à renouveler.")
    click.echo(renewal_url(current_app, certificate.serial_hex))


api_client_cli = AppGroup("api-client", help="Clients de l'API de commande.")


def _api_client(client_id: int):
    from models import ApiClient

    client = ApiClient.get_or_none(ApiClient.id == client_id)
    if client is None:
        raise click.ClickException(f"Aucun client d'API n° {client_id}.")
    return client


@api_client_cli.command("create")
@click.option("--ae", "ae_name", required=True, help="Nom de l'AE.")
@click.option("--name", required=True, help="Nom du client (la boutique, le CRM…).")
@click.option("--portal", "portals", multiple=True, required=True,
              help="Code d'un portail du client (répétable).")
@click.option("--scope", "scopes", multiple=True, required=True,
              help="Portée : commandes:ecrire, commandes:lire, webhooks:gerer (répétable).")
def api_client_create(ae_name: str, name: str, portals: tuple[str, ...], scopes: tuple[str, ...]):
    """Crée un client d'API et affiche son jeton (une seule fois)."""
    import workflow
    from models import AE
    from services.api import clients

    with db.connection_context():
        ae = AE.get_or_none(AE.name == ae_name)
        if ae is None:
            raise click.ClickException(f"AE inconnue : « {ae_name} ».")
        try:
            issued = clients.create(ae, name, list(portals), list(scopes),
                                    created_by="ligne de commande")
        except workflow.Refused as refusal:
            raise click.ClickException(refusal.message) from None
    click.echo(f"Client d'API n° {issued.client.id} « {issued.client.name} » créé.")
    click.echo("Jeton (affiché une seule fois, conservez-le) :", err=True)
    click.echo(issued.credential)


@api_client_cli.command("list")
@click.option("--ae", "ae_name", default=None, help="Seulement cette AE.")
def api_client_list(ae_name: str | None):
    """Liste les clients d'API, leurs portails, leurs portées et leur état."""
    from models import AE, ApiClient, ApiClientPortal, Portal

    with db.connection_context():
        query = ApiClient.select(ApiClient, AE).join(AE).order_by(AE.name, ApiClient.name)
        if ae_name:
            query = query.where(AE.name == ae_name)
        for client in query:
            codes = [code for (code,) in Portal.select(Portal.code).join(ApiClientPortal)
                     .where(ApiClientPortal.client == client.id).order_by(Portal.code).tuples()]
            state = (f"révoqué le {client.revoked_at:%d/%m/%Y %H:%M} UTC" if client.revoked_at
                     else "actif")
            click.echo(f"{client.id}\t{client.ae.name}\t{client.name}\t{','.join(codes)}\t"
                       f"{client.scopes}\t{state}")


@api_client_cli.command("rotate")
@click.option("--id", "client_id", required=True, type=int, help="N° du client d'API.")
@click.option("--overlap-hours", default=24, type=click.IntRange(0, 24 * 30),
              help="Heures pendant lesquelles l'ancien jeton reste valable (24 par défaut).")
def api_client_rotate(client_id: int, overlap_hours: int):
    """Donne un nouveau jeton ; l'ancien reste valable le temps du recouvrement."""
    import datetime as dt
    from services.api import clients

    with db.connection_context():
        credential = clients.rotate(_api_client(client_id), dt.timedelta(hours=overlap_hours),
                                    by="ligne de commande")
    click.echo("Nouveau jeton (affiché une seule fois, conservez-le) :", err=True)
    click.echo(credential)


@api_client_cli.command("revoke")
@click.option("--id", "client_id", required=True, type=int, help="N° du client d'API.")
def api_client_revoke(client_id: int):
    """Révoque un client d'API : ses jetons sont refusés dès la requête suivante."""
    from services.api import clients

    with db.connection_context():
        client = _api_client(client_id)
        clients.revoke(client, by="ligne de commande")
    click.echo(f"Client d'API n° {client_id} « {client.name} » révoqué.")


@click.command("seed-demo")
def seed_demo():
    """Crée les données et les clés de démonstration (idempotent)."""
    from flask import current_app
    from demo.seed import seed_demo as run_seed

    summary = run_seed(current_app)
    click.echo(summary)


backup_cli = AppGroup("backup", help="Sauvegardes (base, documents, AC, clés ; docs/backups.md).")


@backup_cli.command("create")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def backup_create(folder: Path):
    """Sauvegarde la base et le dossier d'instance (hors caches) dans FOLDER, nouveau."""
    from flask import current_app
    from services.backups import BackupRefused
    from services.backups.create import create_backup

    try:
        created = create_backup(current_app, folder)
    except BackupRefused as refused:
        _fail(refused.message)
    click.echo(f"Sauvegarde écrite dans {created.folder} : {created.files} fichier(s), "
               f"{created.size / 1024 / 1024:.1f} Mo (manifeste SHA256SUMS).")


@backup_cli.command("verify")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def backup_verify(folder: Path):
    """Recalcule l'empreinte de chaque fichier de la sauvegarde (code de sortie 1 si l'un
    manque ou a changé)."""
    from services.backups import manifest

    checked, problems = manifest.verify(folder)
    if problems:
        for problem in problems:
            click.echo(f"ERREUR : {problem}", err=True)
        click.echo(f"Sauvegarde invalide ({len(problems)} problème(s)) : {folder}", err=True)
        sys.exit(1)
    click.echo(f"Sauvegarde intègre : {checked} fichiers vérifiés ({folder}).")


@backup_cli.command("restore")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def backup_restore(folder: Path):
    """Restaure la sauvegarde FOLDER sur une instance vide (refusé sinon, sans rien changer)."""
    from flask import current_app
    from formatting import paris_datetime
    from services.backups import BackupRefused
    from services.backups.restore import restore_backup

    try:
        restored = restore_backup(current_app, folder)
    except BackupRefused as refused:
        _fail(refused.message)
    made = paris_datetime(dt.datetime.fromisoformat(restored.created_at))
    click.echo(f"Sauvegarde du {made} restaurée : la base de données et {restored.files} "
               f"fichier(s) du dossier d'instance. Vérifiez la piste d'audit : "
               f"flask --app app audit verify")


def _fail(message: str) -> None:
    click.echo(f"ERREUR : {message}", err=True)
    sys.exit(1)
