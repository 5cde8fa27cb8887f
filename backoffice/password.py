"""The password confirmation screen: a signed-in person types their password again before a
sensitive action (see `retailops.sessions`), then goes back to where they were."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from retailops.sessions import password_confirmed, safe_next


class PasswordConfirmForm(forms.Form):
    password = forms.CharField(strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request

    def clean_password(self) -> str:
        password = self.cleaned_data["password"]
        # Through authenticate(), so wrong passwords here count towards the sign-in lockout too.
        user = authenticate(self.request, username=self.request.user.get_username(), password=password)
        if user is None or user.pk != self.request.user.pk:
            raise forms.ValidationError("That is not your password.", code="wrong_password")
        return password


@require_http_methods(["GET", "POST"])
@login_required
def confirm_password(request):
    then = safe_next(request, request.POST.get("next") or request.GET.get("next", ""))
    form = PasswordConfirmForm(request.POST or None, request=request)
    if request.method == "POST" and form.is_valid():
        password_confirmed(request)
        minutes = round(settings.PASSWORD_CONFIRM_TIMEOUT.total_seconds() / 60)
        messages.success(request, f"Password confirmed for the next {minutes} minutes.")
        return redirect(then)
    return render(request, "registration/confirm_password.html", {"form": form, "next": then},
                  status=400 if form.errors else 200)
