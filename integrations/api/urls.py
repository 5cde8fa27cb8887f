from django.urls import path

from integrations.api import views

urlpatterns = [
    path("auth/token", views.StaffTokenView.as_view(), name="auth-token"),
]
