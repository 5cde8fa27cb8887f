from django.urls import path

from exceptions.api import views

urlpatterns = [
    path("cases", views.CaseListView.as_view(), name="case-list"),
]
