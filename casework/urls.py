from django.urls import path

from casework import views

app_name = "cases"

urlpatterns = [
    path("", views.case_index, name="index"),
    path("queue/<slug:team>/", views.case_queue, name="queue"),
    path("mine/", views.my_cases, name="mine"),
    path("bulk/", views.cases_bulk, name="bulk"),
    path("<int:case_id>/", views.case_detail, name="detail"),
    path("<int:case_id>/assign/", views.case_assign, name="assign"),
    path("<int:case_id>/start/", views.case_start, name="start"),
    path("<int:case_id>/resolve/", views.case_resolve, name="resolve"),
    path("<int:case_id>/dismiss/", views.case_dismiss, name="dismiss"),
    path("<int:case_id>/comment/", views.case_comment, name="comment"),
    path("<int:case_id>/adjust/", views.case_adjustment_request, name="adjust"),
    path("<int:case_id>/replay/", views.case_event_replay, name="replay"),
    path("<int:case_id>/replay-all/", views.case_events_replay_all, name="replay_all"),
    path("<int:case_id>/release/", views.case_reservation_release, name="release"),
    path("<int:case_id>/recount/", views.case_recount_open, name="recount"),
    path("<int:case_id>/reallocate/", views.case_order_reallocate, name="reallocate"),
]
