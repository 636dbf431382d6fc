"""The notification center in the browser: thin views over notifications.services/selectors.

Every action is a POST that works twice over: HTMX sends it with the CSRF header and gets back
only the changed parts (partials of ``notifications/center.html`` plus the badge out of band);
a plain form POST gets a redirect to the page it came from. Another user's id is a 404.
"""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import trigger_client_event

from notifications import selectors, services
from notifications.account import selectors as account_selectors
from notifications.delivery import vapid
from notifications.forms import PreferenceMatrixForm, QuietHoursForm
from notifications.kinds import KINDS, user_facing_kinds
from notifications.models import Channel, Notification

DROPDOWN_SIZE = 10


def _positive_int(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _moment(value):
    """An aware datetime from its ISO form, or None."""
    try:
        moment = parse_datetime(value or "")
    except ValueError:
        return None
    return moment if moment is not None and timezone.is_aware(moment) else None


def _filters(params) -> dict:
    """The center's filters from a query dict; unknown values fall back to "everything"."""
    kind = params.get("kind", "")
    return {
        "show": "unread" if params.get("show") == "unread" else "all",
        "kind": kind if kind in KINDS else "",
    }


def _filter_query(filters: dict, **extra) -> str:
    params = {key: value for key, value in {**filters, **extra}.items() if value and value != "all"}
    return urlencode(params)


def _safe_next(request, fallback: str) -> str:
    """Where a plain POST goes back to: the posted ``next`` when it is on this site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def _center_url(filters: dict | None = None) -> str:
    query = _filter_query(filters or {})
    return reverse("notifications:center") + (f"?{query}" if query else "")


def _badge_oob(request) -> str:
    return render_to_string(
        "notifications/_badge.html",
        {"unread": selectors.unread_count(user=request.user), "oob": True},
    )


def _unseen_ids(rows) -> str:
    """The shown rows not yet recorded as seen, for the page's seen beacon
    (``notifications/_seen_beacon.html``): a GET renders them and writes nothing."""
    return ",".join(str(row.pk) for row in rows if row.seen_at is None)


def _center_page(request, filters: dict, before_id: int | None) -> dict:
    """One page of the center (keyset by id) and the query of the next one."""
    rows = selectors.notification_list(
        user=request.user,
        before_id=before_id,
        unread_only=filters["show"] == "unread",
        kind=filters["kind"] or None,
        limit=selectors.PAGE_SIZE + 1,
    )
    has_more = len(rows) > selectors.PAGE_SIZE
    rows = rows[: selectors.PAGE_SIZE]
    return {
        "notifications": rows,
        "unseen_ids": _unseen_ids(rows),
        "filters": filters,
        "has_more": has_more,
        "next_query": _filter_query(filters, before=rows[-1].pk) if has_more else "",
        "back_url": _center_url(filters),
        "kinds": user_facing_kinds(),
    }


@login_required
@require_GET
def center(request):
    filters = _filters(request.GET)
    before_id = _positive_int(request.GET.get("before"))
    context = _center_page(request, filters, before_id)
    cleared_at = _moment(request.GET.get("cleared"))
    if cleared_at is not None:
        context["cleared_at"] = cleared_at.isoformat()  # the Undo of a plain-POST "Clear all"
    if request.htmx and before_id:
        return render(request, "notifications/center.html#page", context)
    if request.htmx and request.htmx.target == "notification-list":
        return render(request, "notifications/center.html#list", context)
    return render(request, "notifications/center.html", context)


def _row_response(request, notification_id: int) -> HttpResponse:
    """The re-rendered row (gone when it is no longer visible) and the badge, for HTMX."""
    notification = (
        selectors.visible_notifications(user=request.user).filter(pk=notification_id).first()
    )
    row = ""
    if notification is not None:
        row = render_to_string(
            "notifications/center.html#row",
            {"notification": notification, "back_url": _safe_next(request, _center_url())},
            request=request,
        )
    return HttpResponse(row + _badge_oob(request))


def _row_action(request, notification_id: int, action) -> HttpResponse:
    try:
        action(user=request.user, notification_id=notification_id)
    except Notification.DoesNotExist:
        raise Http404("No such notification.") from None
    if request.htmx:
        return _row_response(request, notification_id)
    return redirect(_safe_next(request, _center_url()))


def _row_action_view(action, name: str):
    """A POST view applying ``action(user=, notification_id=)`` to one of the user's rows."""

    @login_required
    @require_POST
    def view(request, notification_id: int):
        return _row_action(request, notification_id, action)

    view.__name__ = view.__qualname__ = name
    return view


mark_read = _row_action_view(services.notification_mark_read, "mark_read")
mark_unread = _row_action_view(services.notification_mark_unread, "mark_unread")
dismiss = _row_action_view(services.notification_dismiss, "dismiss")


@login_required
@require_POST
def mark_all_read(request):
    """"Mark all read" in the center and in the dropdown."""
    services.notification_mark_all_read(user=request.user)
    if request.htmx and request.htmx.target == "notification-dropdown":
        # The center's list, when it is on the page too, re-reads itself.
        return trigger_client_event(_dropdown_response(request), "herald:read-state")
    if request.htmx:
        # The center's form carries its filters, so the list comes back as the user filtered it.
        list_html = _center_list_html(request, _filters(request.POST))
        return HttpResponse(list_html + _badge_oob(request))
    return redirect(_safe_next(request, _center_url()))


def _center_list_html(request, filters: dict) -> str:
    context = _center_page(request, filters, None)
    return render_to_string("notifications/center.html#list", context, request=request)


@login_required
@require_POST
def clear_all(request):
    """"Clear all": every notification leaves the center, with an Undo for a few seconds.

    HTMX gets the emptied list, the badge and a toast holding the Undo form; a plain POST goes
    back to the center, which shows the same Undo form.
    """
    count, cleared_at = services.notification_dismiss_all(user=request.user)
    token = cleared_at.isoformat()
    if not request.htmx:
        return redirect(f"{reverse('notifications:center')}?{urlencode({'cleared': token})}")
    undo = render_to_string(
        "notifications/_undo_clear.html",
        {"count": count, "cleared_at": token, "oob": True},
        request=request,
    ) if count else ""
    list_html = _center_list_html(request, _filters(request.POST))
    return HttpResponse(list_html + _badge_oob(request) + undo)


@login_required
@require_POST
def undo_clear(request):
    """Bring back what one "Clear all" hid (``cleared_at`` names it); 400 when it names none."""
    cleared_at = _moment(request.POST.get("cleared_at"))
    if cleared_at is None:
        return HttpResponse("Nothing to undo: the clear is not named.", status=400)
    restored = services.notification_restore_cleared(user=request.user, cleared_at=cleared_at)
    if not request.htmx:
        messages.success(request, f"{restored} notification{pluralize(restored)} restored.")
        return redirect(_center_url())
    gone = '<div id="undo-clear" hx-swap-oob="delete"></div>'
    list_html = _center_list_html(request, _filters(request.POST))
    return HttpResponse(list_html + _badge_oob(request) + gone)


@login_required
@require_POST
def open_notification(request, notification_id: int):
    """Click-through: record the click, mark read, go to what it is about."""
    try:
        notification = services.notification_record_click(
            user=request.user, notification_id=notification_id
        )
    except Notification.DoesNotExist:
        raise Http404("No such notification.") from None
    target = notification.url
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("notifications:center")
    return redirect(target)


@login_required
@require_GET
def dropdown(request):
    """The latest notifications under the badge (the page then records them seen)."""
    return _dropdown_response(request)


def _dropdown_response(request) -> HttpResponse:
    rows = selectors.notification_list(user=request.user, limit=DROPDOWN_SIZE)
    html = render_to_string(
        "notifications/_dropdown.html",
        {
            "notifications": rows,
            "unseen_ids": _unseen_ids(rows),
            "back_url": _safe_next(request, request.path),
        },
        request=request,
    )
    return HttpResponse(html + _badge_oob(request))


# The most ids one beacon may name: a page of the center (the dropdown shows fewer).
SEEN_MAX_IDS = max(selectors.PAGE_SIZE, DROPDOWN_SIZE)


def _id_list(value: str) -> list[int] | None:
    """Comma-separated positive ids (at most ``SEEN_MAX_IDS``), or None when malformed."""
    ids = [_positive_int(part) for part in value.split(",") if part.strip()]
    if not ids or None in ids or len(ids) > SEEN_MAX_IDS:
        return None
    return ids


@login_required
@require_POST
def record_seen(request):
    """The page shows these rows: record the first time each was seen (204).

    The center and the dropdown render a beacon that posts their unseen ids once the rows are
    in the page, so the GETs that list them stay free of writes. Ids of other users' rows are
    ignored; a malformed list is a 400.
    """
    ids = _id_list(request.POST.get("ids", ""))
    if ids is None:
        return HttpResponse(
            f"ids: 1 to {SEEN_MAX_IDS} comma-separated notification ids.", status=400
        )
    services.notification_record_seen(user=request.user, notification_ids=ids)
    return HttpResponse(status=204)


@login_required
@require_GET
def badge(request):
    """The badge alone: what the page polls while its socket is down."""
    return render(
        request,
        "notifications/_badge.html",
        {"unread": selectors.unread_count(user=request.user), "oob": False},
    )


@login_required
@require_http_methods(["GET", "POST"])
def preferences(request):
    matrix = selectors.preference_matrix(user=request.user)
    quiet = selectors.quiet_hours_of(user=request.user)
    matrix_form = PreferenceMatrixForm(matrix=matrix)
    quiet_form = QuietHoursForm(instance_values=quiet)
    status = 200
    if request.method == "POST":
        section = request.POST.get("section")
        if section == "channels":
            matrix_form = PreferenceMatrixForm(request.POST, matrix=matrix)
            if matrix_form.is_valid():
                for kind, channel, enabled in matrix_form.changes():
                    services.preference_set(
                        user=request.user, kind=kind, channel=channel, enabled=enabled
                    )
                messages.success(request, "Notification channels saved.")
                return redirect("notifications:preferences")
        elif section == "quiet_hours":
            quiet_form = QuietHoursForm(request.POST, instance_values=quiet)
            if quiet_form.is_valid():
                if quiet_form.cleaned_data["enabled"]:
                    services.quiet_hours_set(
                        user=request.user,
                        start=quiet_form.cleaned_data["start"],
                        end=quiet_form.cleaned_data["end"],
                        time_zone=quiet_form.cleaned_data["time_zone"],
                    )
                    messages.success(request, "Quiet hours saved.")
                else:
                    services.quiet_hours_clear(user=request.user)
                    messages.success(request, "Quiet hours turned off.")
                return redirect("notifications:preferences")
        else:
            return HttpResponse("Unknown preferences section.", status=400)
        status = 400
    context = {
        "matrix_form": matrix_form,
        "quiet_form": quiet_form,
        "subscriptions": selectors.subscription_rows(user=request.user),
        "channels": Channel,
        "vapid_public_key": vapid.public_key(),
        "reach": account_selectors.channel_reach(user=request.user),
        "push_register_url": reverse("push:subscribe"),
    }
    return render(request, "notifications/preferences.html", context, status=status)


@login_required
@require_POST
def unfollow(request):
    topic = request.POST.get("topic", "")
    if not services.subscription_unfollow(user=request.user, topic=topic):
        raise Http404("You do not follow that.")
    if request.htmx:
        return HttpResponse("")
    messages.success(request, "Unsubscribed.")
    return redirect(_safe_next(request, reverse("notifications:preferences")))


@require_GET
def service_worker(request):
    """``/sw.js`` from static/, served at the root so its scope is the whole site."""
    path = finders.find("sw.js")
    if path is None:
        raise Http404("No service worker.")
    response = FileResponse(open(path, "rb"), content_type="text/javascript")
    response["Service-Worker-Allowed"] = "/"
    response["Cache-Control"] = "no-cache"
    return response
