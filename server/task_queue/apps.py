from django.apps import AppConfig


class TaskQueueConfig(AppConfig):
    name = "task_queue"
    verbose_name = "Task queue"
