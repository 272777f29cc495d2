"""The HTTP service: the scripts' library functions behind a FastAPI app (serve.py runs it)."""
