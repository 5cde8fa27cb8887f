from django.urls import path

from connectors import views

app_name = "integrations"

urlpatterns = [
    path("", views.health, name="health"),
    path("<str:code>/", views.system_detail, name="system"),
    path("<str:code>/replay/", views.replay_selected, name="replay"),
    path("<str:code>/replay-all/", views.replay_all, name="replay-all"),
    path("<str:code>/pause/", views.system_pause, name="pause"),
    path("<str:code>/resume/", views.system_resume, name="resume"),
]
