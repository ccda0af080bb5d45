from django.db import models


class TaskClaim(models.Model):
    """The task last queued under a key (task_queue/claims.py): asking for the same work again while
    it has not finished joins that task instead of queueing another. One row per key, so the table
    is as large as the set of keys (one per city for single refreshes)."""

    key = models.CharField(max_length=200, primary_key=True)
    task_id = models.CharField(max_length=255)
    expires_at = models.FloatField(help_text="Seconds since the epoch: past it, the claim no longer holds.")

    def __str__(self) -> str:
        return f"{self.key} → {self.task_id}"
