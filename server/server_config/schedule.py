"""The periodic tasks, all of them: beat's DatabaseScheduler copies them into the database, where
the admin can change them without restarting beat (settings.CELERY_BEAT_SCHEDULE is this dict)."""

from celery.schedules import crontab

# `expires` stops runs missed during an outage from piling up when the workers come back.
BEAT_SCHEDULE = {
    "update-all-weather-data": {
        "task": "weather.tasks.update_all_weather_data",
        "schedule": crontab(minute="0", hour="*/3"),
        "options": {"expires": 3 * 3600 - 300},
    },
    "cleanup-old-weather-data": {
        "task": "weather.tasks.cleanup_old_weather_data",
        "schedule": crontab(minute="0", hour="1"),
        "options": {"expires": 23 * 3600},
    },
    # Staged rows of imports that a crash stopped (ETL_STAGING_MAX_AGE_HOURS).
    "cleanup-abandoned-imports": {
        "task": "weather.tasks.cleanup_abandoned_imports",
        "schedule": crontab(minute="30"),
        "options": {"expires": 3600 - 300},
    },
}
