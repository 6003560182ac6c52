"""Run by tests/test_documents.py in a child process: import documents into an order, and be
killed (SIGKILL, no cleanup of any kind) at a chosen point of the import, or by the parent at
a random moment.

    python tests/crash_import.py INSTANCE DATABASE_URL ORDER_ID POINT [COUNT]

POINT: after_pending | mid_write | after_rename | before_commit | after_commit | none
With ``none`` the child imports COUNT different files in a loop, printing each one done.
"""
from __future__ import annotations

import io
import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def sample(number: int) -> bytes:
    from PIL import Image
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (number % 256, number // 256 % 256, 90)).save(buffer, "PNG")
    return buffer.getvalue()


def arm(point: str) -> None:
    """Make the import kill this process at ``point``."""
    from services import audit
    from adapters import atomic_files, document_store
    from services.dossiers import documents

    if point == "after_pending":
        document_store.DocumentStore._write_atomically = lambda self, path, data: die()
    elif point == "mid_write":
        real_fsync = os.fsync

        def fsync(fd):  # the temporary file has half its bytes, not yet synced or renamed
            if os.path.basename(os.readlink(f"/proc/self/fd/{fd}")).startswith(".tmp-"):
                os.ftruncate(fd, os.fstat(fd).st_size // 2)
                die()
            real_fsync(fd)
        os.fsync = fsync
    elif point == "after_rename":  # the file has its name, the folder is not synced yet
        atomic_files.fsync_folder = lambda folder: die()
    elif point == "before_commit":
        real_record = audit.record

        def record(*args, **kwargs):  # inside the linking transaction, rows written
            real_record(*args, **kwargs)
            die()
        documents.audit.record = record
    elif point == "after_commit":
        real_import = documents.import_document

        def import_then_die(*args, **kwargs):
            real_import(*args, **kwargs)
            die()
        documents.import_document = import_then_die


def main() -> None:
    instance, database_url, order_id, point = sys.argv[1:5]
    count = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    from app import create_app
    from models import Order, db
    from services.dossiers import documents

    app = create_app({"INSTANCE_PATH": Path(instance), "DATABASE_URL": database_url,
                      "SECRET_KEY": "crash-test", "TESTING": True})
    arm(point)
    with app.app_context(), db.connection_context():
        order = Order.get_by_id(int(order_id))
        for number in range(count):
            documents.import_document(order, "holder_id", f"cni-{number}.png",
                                      sample(number + 1000 * os.getpid() % 7919),
                                      actor_label="Demandeur")
            print(f"imported {number}", flush=True)


if __name__ == "__main__":
    main()
