"""Command line: `python -m token_bridge` serves the bridge; `unlock` and `list` help the admin.

    python -m token_bridge [--host 127.0.0.1] [--port 8765] [--module PATH] [--origin ORIGIN ...]
                           [--state-dir DIR] [--max-pin-tries N]
    python -m token_bridge unlock --serial S [--so-pin P] [--new-pin N] [--module PATH] [--state-dir DIR]
    python -m token_bridge list [--module PATH] [--state-dir DIR]
"""
import argparse
import getpass
import os
import sys

from werkzeug.serving import make_server

from bridge_protocol import is_valid_origin
from token_bridge.server import DEFAULT_PORT, create_bridge_app
from token_bridge.tokens import (
    DEFAULT_MAX_PIN_TRIES,
    DEFAULT_MODULE,
    BridgeError,
    PinAttempts,
    default_state_dir,
    list_tokens,
    unlock_token,
)

DEFAULT_ORIGINS = "http://127.0.0.1:5000,http://localhost:5000"
LOOPBACK_NAMES = ("127.0.0.1", "localhost")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"unlock": unlock, "list": show_tokens}
    if argv and argv[0] in commands:
        return commands[argv[0]](argv[1:])
    return serve(argv)


def _common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--module", default=os.environ.get("PKCS11_MODULE") or DEFAULT_MODULE,
        help="module PKCS#11 des clés USB (PKCS11_MODULE)",
    )
    parser.add_argument(
        "--state-dir", default=None,
        help="dossier du compteur d'essais PIN (RADESK_BRIDGE_STATE, sinon ~/.local/state/radesk-bridge)",
    )
    parser.add_argument(
        "--max-pin-tries", type=int,
        default=int(os.environ.get("RADESK_BRIDGE_MAX_PIN_TRIES") or DEFAULT_MAX_PIN_TRIES),
        help="codes PIN erronés consécutifs avant blocage par le pont",
    )


def _attempts(arguments: argparse.Namespace) -> PinAttempts:
    return PinAttempts(arguments.state_dir or default_state_dir(), arguments.max_pin_tries)


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m token_bridge", description="Pont local des clés USB RA Desk.")
    parser.add_argument("--host", default="127.0.0.1", help="127.0.0.1 uniquement")
    parser.add_argument("--port", type=int, default=int(os.environ.get("RADESK_BRIDGE_PORT") or DEFAULT_PORT))
    parser.add_argument(
        "--origin", action="append", dest="origins",
        help="origine autorisée de l'extranet, répétable (RADESK_BRIDGE_ORIGINS, séparées par des virgules)",
    )
    _common_options(parser)
    arguments = parser.parse_args(argv)
    if arguments.host not in LOOPBACK_NAMES:
        parser.error("le pont n'écoute que sur 127.0.0.1 : une autre machine ne doit pas utiliser ces clés")
    origins = arguments.origins or _split(os.environ.get("RADESK_BRIDGE_ORIGINS") or DEFAULT_ORIGINS)
    invalid = [origin for origin in origins if not is_valid_origin(origin)]
    if invalid:
        parser.error(f"origine invalide (schéma://hôte[:port] attendu) : {', '.join(invalid)}")
    if arguments.max_pin_tries < 1:
        parser.error("--max-pin-tries doit valoir au moins 1")

    app = create_bridge_app(arguments.module, origins, arguments.state_dir or default_state_dir(), arguments.max_pin_tries)
    server = make_server("127.0.0.1", arguments.port, app, threaded=True)
    app.config["BRIDGE_PORT"] = server.server_port  # the real one when --port 0
    print(
        f"Pont des clés USB à l'écoute sur http://127.0.0.1:{server.server_port} "
        f"(origines autorisées : {', '.join(origins)})",
        file=sys.stderr, flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def unlock(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m token_bridge unlock",
        description="Débloque une clé USB : nouveau code PIN posé avec le code PIN administrateur (SO).",
    )
    parser.add_argument("--serial", required=True, help="numéro de série de la clé (voir « list »)")
    parser.add_argument("--so-pin", help="code PIN administrateur ; demandé s'il est omis")
    parser.add_argument("--new-pin", help="nouveau code PIN ; demandé s'il est omis")
    _common_options(parser)
    arguments = parser.parse_args(argv)
    so_pin = arguments.so_pin or getpass.getpass("Code PIN administrateur : ")
    new_pin = arguments.new_pin or getpass.getpass("Nouveau code PIN : ")
    try:
        unlock_token(arguments.module, arguments.serial, so_pin, new_pin, _attempts(arguments))
    except BridgeError as error:
        print(error.message, file=sys.stderr)
        return 1
    print(f"Clé {arguments.serial} débloquée : nouveau code PIN enregistré.")
    return 0


def show_tokens(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m token_bridge list", description="Clés USB présentes.")
    _common_options(parser)
    arguments = parser.parse_args(argv)
    try:
        found = list_tokens(arguments.module, _attempts(arguments))
    except BridgeError as error:
        print(error.message, file=sys.stderr)
        return 1
    for token in found:
        certificate = "certificat d'authentification" if token["certificate_pem"] else "sans certificat"
        print(f"{token['serial']}\t{token['label']}\t{token['pin_state']}\t{certificate}")
    if not found:
        print("Aucune clé USB.")
    return 0


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


if __name__ == "__main__":
    sys.exit(main())
