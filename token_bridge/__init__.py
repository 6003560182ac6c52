"""RA Desk token bridge: the operator's local PKCS#11 agent, a program of its own. What it
shares with the server is /bridge_protocol.py (the login message, the signed instructions).

    tokens     bridge side: list the USB keys, sign a login challenge, PIN retry counter
    server     the local HTTP API (Flask app served on 127.0.0.1)
    provision  SoftHSM2 tokens, on-token key pairs, certificates and CSRs
    generation a holder's key: generation on a blank key and activation, on server-signed instructions
"""
