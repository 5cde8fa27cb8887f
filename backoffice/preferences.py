"""Each person's notification preferences: per kind, immediately, in a daily digest, or off."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from backoffice import notifications
from backoffice.models import Delivery, NotificationKind


class PreferencesForm(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for kind, label in NotificationKind.choices:
            choices = [(value, text) for value, text in Delivery.choices
                       if not (kind in notifications.DIGEST_ONLY and value == Delivery.IMMEDIATE)]
            if kind in notifications.DIGEST_ONLY:
                choices = [(Delivery.DIGEST, "Every morning"), (Delivery.OFF, "Off")]
            self.fields[kind] = forms.ChoiceField(label=label, choices=choices)


@require_http_methods(["GET", "POST"])
@login_required
def preferences(request):
    if request.method == "POST":
        form = PreferencesForm(request.POST)
        if form.is_valid():
            notifications.preferences_set(user=request.user, choices=form.cleaned_data)
            messages.success(request, "Your notification preferences are saved.")
            return redirect("notification_preferences")
        messages.error(request, "Choose one of the offered deliveries for each kind; nothing was changed.")
    else:
        form = PreferencesForm(initial=notifications.preferences_of(request.user))
    return render(request, "backoffice/preferences.html", {"form": form, "email": request.user.email})
