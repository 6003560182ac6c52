"""Webhooks to the AEs' systems, following the Standard Webhooks specification.

    events     the event types and ``emit``, called in the transaction of the change reported
    delivery   the job that signs and sends the deliveries, with retries, in order per order
    transport  one bounded POST to a checked address, no redirect followed
    urls       which endpoint URLs are allowed (https, public addresses unless allowed)
    endpoints  the admins' management of endpoints, secrets and deliveries
"""
