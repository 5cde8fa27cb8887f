"""What a locked-out sign-in sees (django-axes' AXES_LOCKOUT_CALLABLE).

A person at the staff or admin login gets the app's own sign-in page saying why and for how
long, not a bare error page; an API client (the token login) gets a 429 problem with
Retry-After, like any other throttled call.
"""

import math

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import render

from retailops.problems import PROBLEM_CONTENT_TYPE, problem


def lockout_minutes() -> int:
    return max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))


def locked_out_response(request, original_response=None, credentials=None):
    minutes = lockout_minutes()
    detail = (f"Too many failed sign-ins for this account or from this address. "
              f"Try again in {minutes} minutes.")
    if request.path.startswith("/api/"):
        response = JsonResponse(problem(429, "throttled", detail), status=429, content_type=PROBLEM_CONTENT_TYPE)
        response["Retry-After"] = str(minutes * 60)
        return response
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    return render(request, "registration/login.html", {
        "locked_out": detail, "username": username,
        "next": request.POST.get("next") or request.GET.get("next", ""),
    }, status=429)
