"""The transport's ceiling, for bench_documents: a WSGI app sending 1 GiB of bytes already in
memory, 4 MiB at a time, through the same gunicorn; nothing to read, nothing to compute."""
import os

BLOCK = os.urandom(4 * 1024 * 1024)
BLOCKS = 256


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(BLOCK) * BLOCKS))])
    return (BLOCK for _ in range(BLOCKS))
