"""The embedded CA and the certificate profiles it issues.

    authority   one CA of the pair (root, issuing): key and certificate files, the register,
                the CRL it signs
    embedded    EmbeddedCA, the root and issuing CA together, and ``get_ca(app)``
    operators   operators' login certificates and the AEs' seals
    holder      the holder's qualified certificate, and ``HolderCA``, what generation needs
                from any CA

Callers import these names from ``adapters.ca``; the profiles' constants from their module.
"""
from adapters.ca.authority import fingerprint_sha256, serial_to_hex
from adapters.ca.embedded import EmbeddedCA, UnknownCertificate, get_ca
from adapters.ca.holder import HolderCA, HolderIdentity, HolderRequestRefused, check_holder_request

__all__ = ["EmbeddedCA", "HolderCA", "HolderIdentity", "HolderRequestRefused", "UnknownCertificate",
           "check_holder_request", "fingerprint_sha256", "get_ca", "serial_to_hex"]
