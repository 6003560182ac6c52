"""The ceiling bench_wrk compares the list page with: Flask's « hello world », served by the same
gunicorn with the same settings."""
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "Hello, World!"
