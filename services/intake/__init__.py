"""Orders coming in from a portal's ordering page (« Commander »): the draft typed step by step
(drafts), the requester's proof of address (address), « Envoyer la commande » (submission),
the e-mails of all three (messages), and abandoned drafts cancelled (expiry)."""
