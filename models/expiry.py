"""The reminders sent before a holder certificate expires: one row per (certificate, number of
days before expiry), inserted in the same transaction as the e-mails, so that a reminder goes
out once ever, whichever scheduler process gets there first."""
from __future__ import annotations

from peewee import DateTimeField, ForeignKeyField, IntegerField

from models.base import BaseModel, utcnow
from models.generation import HolderCertificate
from models.notifications import Notification


class CertificateExpiryReminder(BaseModel):
    holder_certificate = ForeignKeyField(HolderCertificate, backref="expiry_reminders",
                                         on_delete="CASCADE")
    days_before = IntegerField()
    # None: the threshold had already passed when a smaller one went out (no burst of e-mails).
    sent_at = DateTimeField(null=True)
    created_at = DateTimeField(default=utcnow)
    # The e-mails of the reminder, which their composer reads the certificate back from.
    holder_notification = ForeignKeyField(Notification, null=True, on_delete="SET NULL",
                                          backref="+")
    requester_notification = ForeignKeyField(Notification, null=True, on_delete="SET NULL",
                                             backref="+")

    class Meta:
        table_name = "certificate_expiry_reminder"
        indexes = ((("holder_certificate", "days_before"), True),)
