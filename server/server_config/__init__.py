# Importing the app here binds @shared_task to it wherever Django starts (web, worker, shell).
from server_config.celery import app as celery_app

__all__ = ("celery_app",)
