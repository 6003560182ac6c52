"""Operator login: the single-use challenges the token bridge signs."""
from __future__ import annotations

from peewee import CharField, DateTimeField

from models.base import BaseModel, utcnow


class LoginChallenge(BaseModel):
    nonce = CharField(unique=True)
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    used_at = DateTimeField(null=True)

