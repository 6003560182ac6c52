"""The supporting documents of the demo dossiers, as a requester would upload them: identity
documents (``identity``), the company's Kbis extract (``company``) and the proof of payment
(``payment``), drawn with the shared helpers of ``drawing``. Each is clearly marked as a
specimen and depends only on its arguments (the same call gives the same bytes on every start).

The contractual documents are not here: the demo has them made by the production code
(services.signing.contracts, through « Envoyer pour signature »).
"""
from demo.documents.company import kbis_pdf
from demo.documents.identity import CNI_SIZE, PASSPORT_SIZE, id_card_image
from demo.documents.payment import payment_proof_pdf

__all__ = ["CNI_SIZE", "PASSPORT_SIZE", "id_card_image", "kbis_pdf", "payment_proof_pdf"]
