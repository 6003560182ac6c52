"""The embedded CA and the certificate profiles it issues.

    authority   one CA of the pair (root, issuing): key and certificate files, the register,
                the CRL it signs
    embedded    EmbeddedCA, the root and issuing CA together, and ``get_ca(app)``
    operators   operators' login certificates and the AEs' seals
    holder      the holder's qualified certificate, and ``HolderCA``, what generation needs
                from any CA

Callers import from ``adapters.ca``; the names are re-exported here.
"""
from adapters.ca.authority import (
    CLOCK_SKEW, CRL_REFRESH_MARGIN, CRL_VALIDITY, ISSUING_NAME, ISSUING_YEARS,
    REVOCATION_REASONS, ROOT_NAME, ROOT_YEARS, fingerprint_sha256, serial_to_hex)
from adapters.ca.embedded import EmbeddedCA, UnknownCertificate, get_ca
from adapters.ca.holder import (
    HOLDER_RSA_MIN_BITS, ID_DOCUMENT_SCHEMES, QC_COMPLIANCE, QC_PDS, QC_SSCD,
    QC_STATEMENTS_OID, QC_SYNTAX_V2, QC_TYPE, QC_TYPE_ESIGN, QCP_N_QSCD, SEMANTICS_NATURAL,
    HolderCA, HolderIdentity, HolderRequestRefused, add_years, check_holder_request,
    qc_statements)
from adapters.ca.operators import DOCUMENT_SIGNING
