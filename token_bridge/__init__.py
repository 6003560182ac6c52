"""RA Desk token bridge: the operator's local PKCS#11 agent and the server-side proof check.

    protocol   the login message the bridge signs, shared with the server
    proof      server side: verify a login signature against a certificate (no PKCS#11)
    tokens     bridge side: list the USB keys, sign a login challenge, PIN retry counter
    server     the local HTTP API (Flask app served on 127.0.0.1)
    provision  SoftHSM2 tokens, on-token key pairs, certificates and CSRs
    generation a holder's key: generation on a blank key and activation, on server-signed instructions
"""
