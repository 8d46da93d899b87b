"""The Celery worker: the app (``worker.app``), the task base class (``worker.base``) and the
thin tasks (``worker.tasks``). Start it with ``celery -A worker.app worker -Q moderation``."""
