"""Flask extensions shared by blueprints, initialised in create_app()."""
from flask import request
from flask_limiter import Limiter


def client_ip() -> str:
    """The peer address; proxy headers are honoured only by the auth proxy path."""
    return request.remote_addr or ""


limiter = Limiter(key_func=client_ip, default_limits=[])
