"""API clients of an AE: created bound to portals with scopes, a secret shown once and kept as a
hash, rotated with an overlap (the old secret keeps working a while), revoked at once.

A credential reads ``rad_<key_id>_<secret>``: the public ``key_id`` finds the row, the secret's
SHA-256 (the secret is 256 random bits, so a plain hash is enough) is compared in constant time.
"""
from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

import workflow
from models import AE, ApiClient, ApiClientPortal, ApiSecret, Operator, Portal, db, utcnow
from models.prepared import PreparedQuery
from services import audit, public_links

SCOPE_WRITE_ORDERS = "commandes:ecrire"
SCOPE_READ_ORDERS = "commandes:lire"
SCOPE_WEBHOOKS = "webhooks:gerer"
SCOPES = {
    SCOPE_WRITE_ORDERS: "Créer et envoyer des commandes, y joindre des pièces",
    SCOPE_READ_ORDERS: "Lire les commandes et leur état",
    SCOPE_WEBHOOKS: "Gérer les webhooks de l'AE",
}
PREFIX = "rad_"
_CREDENTIAL = re.compile(r"rad_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{20,100})")
ACTION_CREATED = "api_client_created"
ACTION_ROTATED = "api_client_secret_rotated"
ACTION_REVOKED = "api_client_revoked"
ACTION_CALL = "api_request"
AUDIT_ACTIONS = {
    ACTION_CALL: "Appel de l'API",
    ACTION_CREATED: "Client d'API créé",
    ACTION_ROTATED: "Secret d'un client d'API renouvelé",
    ACTION_REVOKED: "Client d'API révoqué",
}


@dataclass(frozen=True)
class Issued:
    client: ApiClient
    credential: str  # shown once, never stored


def _new_secret(client: ApiClient, expires_at: dt.datetime | None = None) -> str:
    key_id = secrets.token_hex(6)
    secret = public_links.new_secret()
    ApiSecret.create(client=client, key_id=key_id, secret_hash=public_links.secret_hash(secret),
                     expires_at=expires_at)
    return f"{PREFIX}{key_id}_{secret}"


def scope_problems(scopes: list[str]) -> list[str]:
    unknown = [scope for scope in scopes if scope not in SCOPES]
    problems = [f"Portée inconnue : « {scope} » (attendu : {', '.join(SCOPES)})."
                for scope in unknown]
    if not scopes:
        problems.append("Choisissez au moins une portée.")
    return problems


def create(ae: AE, name: str, portal_codes: list[str], scopes: list[str],
           created_by: Operator | str, ip: str = "") -> Issued:
    """A new client of ``ae``; Refused (French reasons) when a portal, a scope or the name is
    not acceptable. ``created_by``: the admin, or what else acts (« ligne de commande »)."""
    name = (name or "").strip()
    problems = [] if name and len(name) <= 100 else ["Le nom du client est obligatoire (100 "
                                                      "caractères au plus)."]
    portals = list(Portal.select().where((Portal.ae == ae.id) & Portal.code.in_(portal_codes)))
    missing = sorted(set(portal_codes) - {portal.code for portal in portals})
    problems += [f"Portail inconnu de l'AE {ae.name} : « {code} »." for code in missing]
    if not portal_codes:
        problems.append("Choisissez au moins un portail.")
    problems += scope_problems(scopes)
    if ApiClient.select().where((ApiClient.ae == ae.id) & (ApiClient.name == name)).exists():
        problems.append(f"Un client d'API « {name} » existe déjà.")
    if problems:
        raise workflow.Refused(problems)
    with db.atomic():
        client = ApiClient.create(ae=ae.id, name=name, scopes=",".join(sorted(set(scopes))),
                                  created_by=_name(created_by))
        for portal in portals:
            ApiClientPortal.create(client=client, portal=portal)
        credential = _new_secret(client)
        audit.record(ACTION_CREATED, ae=ae.id, ip=ip, **_author(created_by),
                     details={"client": name, "portails": sorted(portal_codes),
                              "portées": sorted(set(scopes))})
    return Issued(client, credential)


def rotate(client: ApiClient, overlap: dt.timedelta, by: Operator | str, ip: str = "") -> str:
    """A new secret; the ones in force keep working for ``overlap`` (zero: stop now)."""
    with db.atomic():
        now = utcnow()
        (ApiSecret
         .update(expires_at=now + overlap)
         .where((ApiSecret.client == client.id)
                & (ApiSecret.expires_at.is_null() | (ApiSecret.expires_at > now + overlap)))
         .execute())
        credential = _new_secret(client)
        audit.record(ACTION_ROTATED, ae=client.ae_id, ip=ip, **_author(by),
                     details={"client": client.name,
                              "recouvrement": f"{int(overlap.total_seconds() // 3600)} h"})
    return credential


def revoke(client: ApiClient, by: Operator | str, ip: str = "") -> None:
    """Effective at once: the next request with any of its secrets is refused."""
    with db.atomic():
        ApiClient.update(revoked_at=utcnow()).where(
            (ApiClient.id == client.id) & ApiClient.revoked_at.is_null()).execute()
        audit.record(ACTION_REVOKED, ae=client.ae_id, ip=ip, **_author(by),
                     details={"client": client.name})


def _author(by: Operator | str) -> dict:
    """Who acts, as the audit trail records them: an admin as the operator (the journal's
    « Qui » filter finds their acts by it), anything else by its label alone."""
    return {"operator": by} if isinstance(by, Operator) else {"actor": by}


def _name(by: Operator | str) -> str:
    return by.display_name if isinstance(by, Operator) else by


def authenticate(credential: str | None) -> ApiClient | None:
    """The client a credential belongs to, if it is valid now."""
    match = _CREDENTIAL.fullmatch(credential or "")
    if match is None:
        return None
    key_id, secret = match.groups()
    row = _SECRET.first(key_id=key_id)
    now = utcnow()
    if (row is None or not public_links.same(public_links.secret_hash(secret), row.secret_hash)
            or (row.expires_at is not None and row.expires_at <= now)
            or row.client.revoked_at is not None):
        return None
    return row.client


def portal_ids(client: ApiClient) -> list[int]:
    return [link.portal_id for link in _PORTALS.execute(client_id=client.id)]


def portals_of(client_id):
    """The client's portal ids, as a sub-select (``client_id``: a value or a named one)."""
    return ApiClientPortal.select(ApiClientPortal.portal).where(ApiClientPortal.client == client_id)


# Read by every call of the API: their SQL written once (models.prepared).
_SECRET = PreparedQuery(lambda key_id: (ApiSecret.select(ApiSecret, ApiClient).join(ApiClient)
                                        .where(ApiSecret.key_id == key_id).limit(1)), "key_id")
_PORTALS = PreparedQuery(portals_of, "client_id")


def clients_of(ae_id: int) -> list[ApiClient]:
    return list(ApiClient.select().where(ApiClient.ae == ae_id).order_by(ApiClient.name))


@dataclass(frozen=True)
class ClientLine:
    """A client as the Administration screen lists it."""
    client: ApiClient
    portals: list[str]
    secrets: list[ApiSecret]  # in force, newest first


def lines(ae_id: int) -> list[ClientLine]:
    """The AE's clients with their portals and secrets still in force (three queries)."""
    found = clients_of(ae_id)
    ids = [client.id for client in found] or [-1]
    portals: dict[int, list[str]] = {}
    for client_id, name in (ApiClientPortal.select(ApiClientPortal.client, Portal.name)
                            .join(Portal).where(ApiClientPortal.client.in_(ids))
                            .order_by(Portal.name).tuples()):
        portals.setdefault(client_id, []).append(name)
    now = utcnow()
    secrets_: dict[int, list[ApiSecret]] = {}
    for secret in (ApiSecret.select().where(ApiSecret.client.in_(ids)
                                            & (ApiSecret.expires_at.is_null()
                                               | (ApiSecret.expires_at > now)))
                   .order_by(ApiSecret.created_at.desc())):
        secrets_.setdefault(secret.client_id, []).append(secret)
    return [ClientLine(client, portals.get(client.id, []), secrets_.get(client.id, []))
            for client in found]
