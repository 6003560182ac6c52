"""Renouvellement of holder certificates: the link a holder follows to renew a certificate
(``links``), the reminders sent before a certificate expires (``expiry_reminders``) and the
count of certificates soon to expire that the AEA operators' digest shows (``expiring``).
"""
