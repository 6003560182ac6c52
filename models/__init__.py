"""Database models (peewee) on a DatabaseProxy initialised by the app factory.

Queries live on the models as small methods returning query objects. Every query for tenant
data (orders, documents, notifications, audit events) goes through an ``OperatorScope`` so a
view cannot forget the AE and portal restriction. One module per family of tables; every
name is importable from ``models`` itself.
"""
from models.api import ApiClient, ApiClientPortal, ApiSecret, IdempotentRequest
from models.audit import AuditEvent, AuditHead
from models.base import (BaseModel, OrderRow, SchemaVersion, db, holder_search_fields, phone_key,
                         search_key, utcnow)
from models.bulk import BulkItem, BulkJob
from models.certificates import IssuedCertificate, OperatorCertificate, TrustedCA
from models.contract_texts import ContractTextVersion
from models.documents import Document, PendingFile
from models.enrolment import OperatorEnrolment
from models.expiry import CertificateExpiryReminder
from models.generation import Activation, GenerationAttempt, HolderCertificate
from models.intake import OrderIntake
from models.keys import BlankKey, BlankKeyEvent, FaceToFaceHandover, KeyStockSettings
from models.login import LoginChallenge, LoginSession
from models.notifications import DigestRun, MessageTemplate, Notification
from models.operations import JobHeartbeat
from models.readings import DocumentReading
from models.orders import (Company, Order, OrderNumber, OrderReview, Person,
                           next_order_number)
from models.scope import OperatorScope
from models.revocation import RevocationClaim, RevocationRequest
from models.searches import SavedSearch
from models.signatures import SignatureItem, SignatureMessage, SignatureRequest
from models.tally import OrderTally
from models.tenants import AE, ROLES, Offer, Operator, OperatorPortal, Portal
from models.webhooks import WebhookDelivery, WebhookEndpoint, WebhookEvent

# Every table, for a fresh database (peewee orders them by their foreign keys).
ALL_MODELS = [
    AE, Portal, Operator, OperatorPortal, OperatorCertificate, TrustedCA, IssuedCertificate,
    Company, Person, Order, Document, Notification, AuditEvent, AuditHead, LoginChallenge,
    SchemaVersion, OrderReview, MessageTemplate, PendingFile, GenerationAttempt,
    HolderCertificate, Activation, SignatureRequest, SignatureItem, SignatureMessage, DigestRun,
    LoginSession, Offer, OrderNumber, OrderIntake, ApiClient, ApiClientPortal, ApiSecret,
    IdempotentRequest, WebhookEndpoint, WebhookEvent, WebhookDelivery, SavedSearch,
    OperatorEnrolment, ContractTextVersion,
    BlankKey, BlankKeyEvent, KeyStockSettings, FaceToFaceHandover,
    BulkJob, BulkItem,
    CertificateExpiryReminder,
    RevocationClaim, RevocationRequest,
    JobHeartbeat,
    OrderTally,
    DocumentReading,
]

__all__ = [
    "ALL_MODELS", "AE", "ApiClient", "ApiClientPortal", "ApiSecret", "IdempotentRequest", "Activation", "AuditEvent", "AuditHead", "BaseModel", "Company",
    "ContractTextVersion",
    "DigestRun", "Document", "GenerationAttempt", "HolderCertificate", "IssuedCertificate",
    "LoginChallenge", "LoginSession", "MessageTemplate", "Notification", "Offer", "Operator",
    "OperatorCertificate", "OperatorPortal", "OperatorScope", "Order", "OrderIntake",
    "OrderNumber", "OrderReview", "OrderRow",
    "PendingFile", "Person", "Portal", "ROLES", "SavedSearch", "SchemaVersion", "SignatureItem",
    "SignatureMessage", "SignatureRequest", "TrustedCA", "WebhookDelivery", "WebhookEndpoint",
    "WebhookEvent", "db", "holder_search_fields", "OperatorEnrolment",
    "BlankKey", "BlankKeyEvent", "FaceToFaceHandover", "KeyStockSettings",
    "next_order_number", "phone_key", "search_key", "utcnow",
    "BulkItem", "BulkJob",
    "CertificateExpiryReminder",
    "RevocationClaim", "RevocationRequest",
    "JobHeartbeat",
    "OrderTally",
    "DocumentReading",
]
