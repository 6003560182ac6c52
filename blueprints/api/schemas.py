"""The API's request and response models (pydantic): spectree checks requests against them and
writes the OpenAPI document from them, so the published contract is the code's own."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

Text = Field(max_length=254)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Company(Strict):
    raison_sociale: str = Field(max_length=200, examples=["Boileau Colbert Conseil"])
    siren: str = Field(max_length=20, description="9 chiffres (clé de Luhn vérifiée)",
                       examples=["434202180"])
    immatriculee_rcs: bool = Field(description="Immatriculée au RCS : l'extrait de KBIS est "
                                               "alors demandé")


class Requester(Strict):
    nom: str = Field(max_length=100, description="Personne à l'origine de la commande")
    email: str = Field(max_length=254, description="Reçoit l'accusé de réception et les "
                                                   "notifications")


class Person(Strict):
    civilite: Literal["M.", "Mme"]
    prenom: str = Field(max_length=100)
    nom: str = Field(max_length=100)
    email: str = Field(max_length=254)
    telephone: Optional[str] = Field(default=None, max_length=40)


class Holder(Person):
    contact_otp: str = Field(max_length=254, description="Mobile ou e-mail qui recevra le code "
                                                         "d'activation")


class Product(Strict):
    offre: str = Field(max_length=200, description="Nom d'une offre de l'AE sur ce portail")
    validite_annees: int = Field(ge=1, le=3)
    support: Literal["usb", "card"] = Field(description="« usb » : clé USB, « card » : carte "
                                                        "à puce")


class OrderCreate(Strict):
    portail: str = Field(max_length=60, description="Code du portail (l'un de ceux du client)")
    societe: Company
    demandeur: Requester
    porteur: Holder
    representant_legal: Person
    mandataire: Optional[Person] = Field(default=None, description="Présent : la procuration "
                                                                   "et sa pièce d'identité sont "
                                                                   "demandées")
    produit: Product


class OrderSummary(BaseModel):
    numero: int
    portail: Optional[str]
    processus: str
    phase: str
    phase_libelle: str
    sous_etat: Optional[str]
    sous_etat_libelle: Optional[str]
    creee_le: str
    modifiee_le: str
    envoyee_le: Optional[str]


class MissingPiece(BaseModel):
    type: str
    intitule: str


class DocumentStatus(BaseModel):
    type: str
    intitule: str
    categorie: str
    statut: str
    statut_libelle: str
    importe_le: Optional[str]


class NotificationLine(BaseModel):
    type: str
    libelle: str
    etat: str
    etat_libelle: str
    creee_le: str
    envoyee_le: Optional[str]


class OrderView(OrderSummary):
    pieces_manquantes: list[MissingPiece]
    documents: list[DocumentStatus]
    notifications: list[NotificationLine]


class OrderPage(BaseModel):
    commandes: list[OrderSummary]
    suivant: Optional[str] = Field(description="Curseur à repasser dans « depuis » ; inchangé "
                                               "quand rien n'a changé")


class ChangedSince(Strict):
    depuis: Optional[str] = Field(default=None, max_length=200)
    limite: int = Field(default=50, ge=1, le=100)


class PieceForm(BaseModel):
    type: Literal["kbis", "holder_id", "legal_rep_id", "mandataire_id", "payment_proof"]


class PieceOut(BaseModel):
    type: str
    intitule: str
    fichier: str
    sha256: str
    taille: int
    importe_le: str


# --- Webhooks ------------------------------------------------------------------------------------

EventType = Literal["commande.recue", "commande.incomplete", "commande.envoyee_en_signature",
                    "commande.signee", "commande.validee", "commande.refusee", "certificat.emis",
                    "certificat.remis", "certificat.active", "certificat.revoque"]


class WebhookCreate(Strict):
    url: str = Field(max_length=2000, description="https:// ; son nom doit mener à des adresses "
                                                  "publiques, sauf « adresses_privees »",
                     examples=["https://boutique.example/radesk/webhooks"])
    description: str = Field(default="", max_length=200)
    evenements: list[EventType] = Field(min_length=1, max_length=10,
                                        description="Les types d'événements à recevoir")
    adresses_privees: bool = Field(default=False, description="Autoriser les adresses privées "
                                                              "(réseau interne de l'AE)")


class WebhookOut(BaseModel):
    id: int
    url: str
    description: str
    evenements: list[str]
    adresses_privees: bool
    actif: bool
    cree_le: str
    ancien_secret_valable_jusqu_au: Optional[str] = Field(
        description="Après un changement de secret, l'ancien signe aussi jusqu'à cette date")
    envois: dict[str, int] = Field(description="Nombre d'envois par état (queued, sending, sent, "
                                               "failed)")


class WebhookSecret(WebhookOut):
    secret: str = Field(description="whsec_… : affiché cette fois seulement ; conservez-le")


class WebhookList(BaseModel):
    webhooks: list[WebhookOut]


class DeliveryOut(BaseModel):
    id: int
    webhook_id: str = Field(description="L'en-tête « webhook-id » de l'événement")
    evenement: str
    evenement_libelle: str
    commande: Optional[int]
    etat: str
    etat_libelle: str
    essais: int
    dernier_statut_http: Optional[int]
    derniere_erreur: Optional[str]
    cree_le: str
    envoye_le: Optional[str]


class WebhookDetail(WebhookOut):
    derniers_envois: list[DeliveryOut]


class ProblemError(BaseModel):
    code: str
    champ: Optional[str] = None
    detail: str


class Problem(BaseModel):
    """RFC 9457 (application/problem+json)."""
    type: str
    title: str
    status: int
    detail: str
    code: str
    erreurs: Optional[list[ProblemError]] = None
