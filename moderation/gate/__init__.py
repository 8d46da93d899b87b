"""The publish gate, upload and review HTTP API (FastAPI): ``create_app(settings)``."""
