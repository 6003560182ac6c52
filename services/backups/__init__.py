"""Backups of an instance: its database and every file of its instance folder but caches, with
a manifest of SHA-256 hashes (``flask backup create|verify|restore``, docs/backups.md)."""
from __future__ import annotations


class BackupRefused(Exception):
    """A backup or restore that did not happen (nothing changed); ``message`` is French."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message
