"""RFC 9457 problem details: every refusal of the API says, in French, what the UI would say,
with a stable machine code per reason (``code``, and per field in ``erreurs``)."""
from __future__ import annotations

from dataclasses import dataclass, field

MEDIA_TYPE = "application/problem+json"

# The stable codes, and their title (the docs page lists them).
TITLES = {
    "authentification_requise": "Authentification requise",
    "portee_insuffisante": "Portée insuffisante",
    "introuvable": "Ressource introuvable",
    "requete_invalide": "Requête invalide",
    "commande_invalide": "Commande refusée",
    "portail_ferme": "Portail fermé",
    "piece_refusee": "Pièce refusée",
    "envoi_refuse": "Envoi de la commande refusé",
    "webhook_invalide": "Webhook refusé",
    "action_refusee": "Action refusée",
    "cle_idempotence_invalide": "Clé d'idempotence invalide",
    "cle_idempotence_reutilisee": "Clé d'idempotence déjà utilisée pour une autre requête",
    "requete_en_cours": "Requête identique en cours",
    "trop_de_requetes": "Trop de requêtes",
    "trop_volumineux": "Requête trop volumineuse",
    "methode_non_autorisee": "Méthode non autorisée",
    "erreur_interne": "Erreur interne",
}


@dataclass
class Problem(Exception):
    status: int
    code: str
    detail: str
    errors: list[dict] = field(default_factory=list)  # {"code", "champ"?, "detail"}
    headers: dict = field(default_factory=dict)

    def body(self) -> dict:
        body = {"type": f"/api/v1/docs#{self.code}", "title": TITLES[self.code],
                "status": self.status, "detail": self.detail, "code": self.code}
        if self.errors:
            body["erreurs"] = self.errors
        return body


def field_code(field_path: str, message: str) -> str:
    """A field's reason as a stable code: « societe.siren.obligatoire » or « ….invalide »."""
    return f"{field_path}.{'obligatoire' if message.endswith('est obligatoire.') else 'invalide'}"
