"""Celery tasks for notifications and the dashboard's daily rollup: thin, safe to run
twice (the rows decide, not the task). Each deciding job has committed when it returns,
so the sending it enqueues sees its rows."""

from celery import shared_task

from backoffice import notifications, rollup


@shared_task
def notifications_decide() -> int:
    added = notifications.notifications_decide()
    if added:
        notifications_send.delay()
    return added


@shared_task
def notifications_send() -> int:
    return notifications.notifications_send()


@shared_task
def notification_digests_send() -> int:
    made = notifications.digests_decide()
    if made:
        notifications_send.delay()
    return made


@shared_task
def dashboard_rollup_refresh() -> int:
    return rollup.refresh()
