"""The second sign-in step's screens (rules in `retailops.mfa`): enter a code after the
password, or enrol an authenticator app first and write down the recovery codes."""

from urllib.parse import parse_qs, urlsplit

import segno
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods

from retailops.mfa import authenticator_of, may_enrol, mfa_enrolment_confirm, mfa_enrolment_start, mfa_verify
from retailops.sessions import safe_next


class CodeForm(forms.Form):
    code = forms.CharField(max_length=32, strip=True)


def _next(request) -> str:
    return safe_next(request, request.POST.get("next") or request.GET.get("next", ""))


@require_http_methods(["GET", "POST"])
@login_required
def verify(request):
    then = _next(request)
    if authenticator_of(request.user) is None:
        query = request.GET.urlencode()
        return redirect(f"{reverse('mfa_enrol')}?{query}" if query else reverse("mfa_enrol"))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if mfa_verify(request=request, token=form.cleaned_data["code"]):
            return redirect(then)
        if not request.user.is_authenticated:  # the wrong codes locked the account
            return redirect("login")
        form.add_error("code", "That code is not right, or it was already used. Wait for the next code and try again.")
    return render(request, "registration/mfa_verify.html", {"form": form, "next": then},
                  status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@login_required
def enrol(request):
    then = _next(request)
    if not may_enrol(request):  # an enrolled person replaces their app only after giving a code
        return redirect(f"{reverse('mfa_verify')}?{urlencode({'next': then})}")
    device = mfa_enrolment_start(user=request.user)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        enrolment = mfa_enrolment_confirm(request=request, device=device, token=form.cleaned_data["code"])
        if enrolment is not None:
            messages.success(request, "Your authenticator app is set up.")
            return render(request, "registration/mfa_recovery_codes.html",
                          {"codes": enrolment.recovery_codes, "next": then})
        if not request.user.is_authenticated:
            return redirect("login")
        form.add_error("code", "That code is not right. Check the app shows RetailOps and try the next code.")
    qr_code = segno.make(device.config_url, error="m").svg_inline(
        scale=4, title="QR code of your authenticator secret", svgclass="qr-code", lineclass=None)
    return render(request, "registration/mfa_enrol.html", {
        "form": form, "next": then, "secret": _grouped(device.config_url), "qr_code": mark_safe(qr_code),  # noqa: S308
        "already_enrolled": authenticator_of(request.user) is not None,
    }, status=400 if form.errors else 200)


def _grouped(config_url: str) -> str:
    """The base32 secret from the otpauth URI, in groups of four to type by hand."""
    secret = parse_qs(urlsplit(config_url).query)["secret"][0]
    return " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
