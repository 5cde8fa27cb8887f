"""What a Celery worker that takes integration work does beyond running tasks: it consumes
every system's relay queue (`integrations.outbox.relay_queue`), and notices new systems.

A worker takes integration work when it consumes INTEGRATIONS_QUEUE (`make run`'s one
worker does). Each system's relay tasks go to a queue of the system's own, so a slow
partner fills its own queue and no other; the worker adds every enabled system's queue
when it starts and looks for new systems every INTEGRATIONS_QUEUE_REFRESH_SECONDS. A
deployment that gives a partner a pool of its own starts that pool with
`--queues <INTEGRATIONS_QUEUE>.<code>` and no INTEGRATIONS_QUEUE, and names the system in
INTEGRATIONS_OWN_POOL_SYSTEMS so the shared workers leave that queue alone (README,
"Workers and queues").
"""

import logging

from celery import bootsteps

logger = logging.getLogger(__name__)


class SystemQueues(bootsteps.StartStopStep):
    requires = {"celery.worker.consumer.tasks:Tasks"}

    def __init__(self, parent, **kwargs):
        super().__init__(parent, **kwargs)
        self.refreshing = None

    def start(self, consumer):
        from django.conf import settings

        if settings.INTEGRATIONS_QUEUE not in consumer.app.amqp.queues.consume_from:
            return
        self.refresh(consumer)
        self.refreshing = consumer.timer.call_repeatedly(settings.INTEGRATIONS_QUEUE_REFRESH_SECONDS, self.refresh,
                                                         (consumer,))

    def stop(self, consumer):
        if self.refreshing is not None:
            self.refreshing.cancel()
            self.refreshing = None

    def refresh(self, consumer) -> None:
        from django.conf import settings

        from integrations.outbox import relay_queue
        from integrations.selectors import relayed_system_codes

        try:
            codes = relayed_system_codes()
        except Exception:  # the database is away for a moment: the next refresh will do
            logger.warning("Could not list the systems whose relay queues to consume.", exc_info=True)
            return
        for code in codes:
            if code not in settings.INTEGRATIONS_OWN_POOL_SYSTEMS:
                consumer.add_task_queue(relay_queue(code))
