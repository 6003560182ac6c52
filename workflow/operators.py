"""The rules of an AE's operator accounts, with their French reasons: what a new or changed
operator must have (name, e-mail unique in the AE, a role, portals of the AE), and the rule that
an AE always keeps one active administrator. Pure: callers pass what they read.
"""
from __future__ import annotations

from typing import Collection, Iterable

from workflow.identifiers import email_problem, normalize_email

ROLE_ADMIN = "admin"
ROLES = ("AEA", "AET", ROLE_ADMIN)
NAME_MAX = 120


def name_problem(display_name: str) -> str | None:
    name = (display_name or "").strip()
    if not name:
        return "Le nom affiché est obligatoire."
    if len(name) > NAME_MAX:
        return f"Le nom affiché ne doit pas dépasser {NAME_MAX} caractères."
    return None


def operator_email_problem(email: str, emails_of_the_ae: Iterable[str]) -> str | None:
    """Required, valid, and no other operator of the AE has it (compared normalised)."""
    problem = email_problem(email, "L'adresse e-mail")
    if problem:
        return problem
    wanted = normalize_email(email).casefold()
    if any((other or "").strip().casefold() == wanted for other in emails_of_the_ae):
        return f"Un opérateur de l'AE a déjà l'adresse e-mail « {normalize_email(email)} »."
    return None


def access_problems(roles: Collection[str], all_portals: bool, portal_ids: Collection[int],
                    ae_portal_ids: Collection[int]) -> list[str]:
    """Roles and portals: at least one known role; « Tous les portails » or some of the AE's."""
    problems = []
    unknown = [role for role in roles if role not in ROLES]
    if unknown:
        problems.append("Rôle inconnu : " + ", ".join(f"« {r} »" for r in unknown) + ".")
    elif not roles:
        problems.append("Cochez au moins un rôle : AEA, AET ou admin.")
    if not all_portals:
        if any(portal not in ae_portal_ids for portal in portal_ids):
            problems.append("Un des portails choisis n'est pas un portail de votre AE.")
        elif not portal_ids:
            problems.append("Choisissez au moins un portail, ou « Tous les portails ».")
    return problems


def last_admin_problem(*, is_admin_before: bool, is_admin_after: bool, other_active_admins: int,
                       is_self: bool, deactivating: bool, name: str) -> str | None:
    """Why the change would leave the AE without an active administrator, or None.

    ``is_admin_*`` mean an active operator with the admin role, before and after the change;
    ``other_active_admins`` counts the AE's other ones."""
    if not is_admin_before or is_admin_after or other_active_admins > 0:
        return None
    if is_self:
        action = ("vous ne pouvez pas vous désactiver" if deactivating
                  else "vous ne pouvez pas retirer votre propre rôle admin")
        return (f"Vous êtes le dernier administrateur actif de l'AE : {action}. "
                f"Donnez d'abord le rôle admin à un autre opérateur.")
    return (f"« {name} » est le dernier administrateur actif de l'AE : l'AE doit garder au moins "
            f"un administrateur actif.")


def certificate_revocation_problems(*, reason: str | None, reasons: Collection[str],
                                    confirmed: bool, revoked: bool,
                                    embedded: bool) -> list[str]:
    """« Révoquer » an operator's certificate: the embedded CA issued it, it is not revoked
    yet, a reason is chosen and the irreversible act is confirmed."""
    if revoked:
        return ["Ce certificat est déjà révoqué."]
    if not embedded:
        return ["Ce certificat n'a pas été émis par l'AC intégrée de RA Desk : seule l'autorité "
                "qui l'a émis peut le révoquer. Retirez-le pour qu'il ne permette plus de se "
                "connecter."]
    problems = []
    if reason not in reasons:
        problems.append("Choisissez le motif de la révocation.")
    if not confirmed:
        problems.append("Cochez la case qui confirme la révocation : elle est irréversible.")
    return problems
