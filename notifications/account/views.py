"""The account page: email, phone and devices. Thin views over ``account.services``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from notifications.account import selectors, services
from notifications.account.forms import EmailForm, PhoneCodeForm, PhoneForm


def _page(request, *, status=200, **forms):
    contact = selectors.contact_point_of(user=request.user)
    devices = selectors.devices_of(user=request.user)
    context = {
        "email_form": forms.get("email_form") or EmailForm(initial={"email": request.user.email}),
        "phone_form": forms.get("phone_form") or PhoneForm(initial={"phone": contact.phone}),
        "code_form": forms.get("code_form") or PhoneCodeForm(),
        "contact": contact,
        "email_verified": contact.email_is_verified(request.user.email),
        "devices": devices,
        "reach": selectors.channel_reach(user=request.user, devices=devices),
        "sms_simulated": selectors.sms_is_simulated(),
    }
    return render(request, "account/account.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def account(request):
    if request.method == "GET":
        return _page(request)
    section = request.POST.get("section")
    user = request.user
    if section == "email":
        form = EmailForm(request.POST)
        if not form.is_valid():
            return _page(request, status=400, email_form=form)
        if services.email_change(user=user, email=form.cleaned_data["email"]):
            messages.success(request, f"We sent a confirmation link to {user.email}.")
        else:
            messages.info(request, "That address is already confirmed.")
    elif section == "email_resend":
        if not user.email:
            return HttpResponse("There is no email address to confirm.", status=400)
        services.email_verification_send(user=user)
        messages.success(request, f"We sent a new confirmation link to {user.email}.")
    elif section == "phone":
        form = PhoneForm(request.POST)
        if not form.is_valid():
            return _page(request, status=400, phone_form=form)
        if services.phone_change(user=user, phone=form.cleaned_data["phone"]):
            messages.success(request, "We sent a code by SMS. Enter it below to confirm.")
        else:
            messages.info(request, "That number is already confirmed.")
    elif section == "phone_code":
        form = PhoneCodeForm(request.POST)
        if form.is_valid():
            try:
                services.phone_verify(user=user, code=form.cleaned_data["code"])
            except services.VerificationError as exc:
                form.add_error("code", str(exc))
        if not form.is_valid():
            return _page(request, status=400, code_form=form)
        messages.success(request, "Your phone number is confirmed: SMS notifications can reach you.")
    elif section == "phone_resend":
        if not services.phone_code_resend(user=user):
            return HttpResponse("There is no unconfirmed number to send a code to.", status=400)
        messages.success(request, "We sent a new code by SMS.")
    elif section == "phone_remove":
        services.phone_change(user=user, phone="")
        messages.success(request, "Phone number removed.")
    else:
        return HttpResponse("Unknown account section.", status=400)
    return redirect("account:account")


@login_required
@require_POST
def device_remove(request, kind: str, device_id: int):
    """Forget one browser or phone app of the user; another user's is a 404."""
    if kind == "browser":
        removed = services.push_subscription_remove(user=request.user, subscription_id=device_id)
    elif kind == "mobile":
        removed = services.mobile_device_remove(user=request.user, device_id=device_id)
    else:
        removed = False
    if not removed:
        raise Http404("No such device.")
    if request.htmx:
        return HttpResponse("")
    messages.success(request, "Device removed: it gets no more push notifications.")
    return redirect("account:account")


@require_http_methods(["GET", "POST"])
def verify_email(request, token: str):
    """GET asks for confirmation (mail scanners follow links); POST confirms the address.
    The signed token is the credential, so no login is needed."""
    error = ""
    user = None
    if request.method == "POST":
        try:
            user = services.email_verify(token=token)
        except services.VerificationError as exc:
            error = str(exc)
    status = 400 if error else 200
    return render(request, "account/verify_email.html",
                  {"error": error, "verified_user": user, "done": user is not None}, status=status)
