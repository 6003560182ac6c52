"""What the operations side reads about the running system: each scheduled job's heartbeat,
written by whichever scheduler process ran it (``/sante`` calls a job that stopped running
stale)."""
from __future__ import annotations

from peewee import CharField, DateTimeField

from models.base import BaseModel


class JobHeartbeat(BaseModel):
    job = CharField(primary_key=True)  # scheduler.Job.id
    last_run_at = DateTimeField()      # UTC, end of the latest run (successful or not)
    process = CharField(default="")    # host:pid of the scheduler that ran it, for diagnosis

    class Meta:
        table_name = "job_heartbeat"
