"""Event pages: thin HTTP around ``events.services`` (writes) and ``events.selectors`` (reads).

Register, leave, follow and unfollow are POSTs that answer an HTMX request with the action
panel partial and a plain form POST with a redirect, so each works without JavaScript.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from events import live, selectors, services
from events.forms import EventForm, add_validation_error
from events.models import Event, RegistrationStatus

PAGE_SIZE = 20
REGISTRATIONS_PAGE_SIZE = 100
HOME_EVENTS = 5


def _event_or_404(event_id: int) -> Event:
    try:
        return selectors.event_get(event_id=event_id)
    except Event.DoesNotExist:
        raise Http404("No such event.") from None


def _managed_event_or_403(request: HttpRequest, event_id: int) -> Event:
    event = _event_or_404(event_id)
    if not selectors.event_can_manage(user=request.user, event=event):
        raise PermissionDenied("Only the organizer can change this event.")
    return event


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    upcoming = list(selectors.event_list_upcoming()[:HOME_EVENTS])
    return render(request, "events/home.html", {"events": upcoming})


@require_GET
def event_list(request: HttpRequest) -> HttpResponse:
    """Upcoming events soonest first; ``?when=past`` lists ended ones, latest first."""
    past = request.GET.get("when") == "past"
    events = selectors.event_list_past() if past else selectors.event_list_upcoming()
    page = Paginator(events, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "events/list.html",
        {"page": page, "past": past, "can_create": selectors.event_can_create(user=request.user)},
    )


def _detail_context(request: HttpRequest, event: Event, **extra) -> dict:
    return {**live.page_context(user=request.user, event=event), **extra}


@require_GET
def event_detail(request: HttpRequest, event_id: int) -> HttpResponse:
    event = _event_or_404(event_id)
    return render(request, "events/detail.html", _detail_context(request, event))


def _panel_response(
    request: HttpRequest, event_id: int, *, notice: str = "", error: str = ""
) -> HttpResponse:
    """The re-rendered action panel for HTMX; otherwise a redirect (or the page, on error)."""
    status = 400 if error else 200
    if request.htmx:
        event = _event_or_404(event_id)
        context = _detail_context(request, event, notice=notice, error=error)
        return render(request, "events/_panel.html", context, status=status)
    if error:
        event = _event_or_404(event_id)
        return render(request, "events/detail.html", _detail_context(request, event, error=error),
                      status=status)
    messages.success(request, notice)
    return redirect("events:detail", event_id)


@login_required
@require_POST
def event_register(request: HttpRequest, event_id: int) -> HttpResponse:
    event = _event_or_404(event_id)
    try:
        registration = services.registration_create(user=request.user, event=event)
    except services.RegistrationClosed as error:
        return _panel_response(request, event_id, error=error.messages[0])
    if registration.status == RegistrationStatus.CONFIRMED:
        notice = "You're registered: your place is confirmed."
    else:
        position = selectors.waitlist_position(registration=registration)
        notice = f"The event is full: you're number {position} on the waiting list."
    return _panel_response(request, event_id, notice=notice)


@login_required
@require_POST
def event_leave(request: HttpRequest, event_id: int) -> HttpResponse:
    event = _event_or_404(event_id)
    left = services.registration_cancel(user=request.user, event=event)
    notice = "You left this event." if left else "You were not registered for this event."
    return _panel_response(request, event_id, notice=notice)


@login_required
@require_POST
def event_follow(request: HttpRequest, event_id: int) -> HttpResponse:
    event = _event_or_404(event_id)
    services.event_follow(user=request.user, event=event)
    return _panel_response(request, event_id, notice="You're following this event's updates.")


@login_required
@require_POST
def event_unfollow(request: HttpRequest, event_id: int) -> HttpResponse:
    event = _event_or_404(event_id)
    services.event_unfollow(user=request.user, event=event)
    return _panel_response(request, event_id, notice="You no longer follow this event.")


@login_required
@require_http_methods(["GET", "POST"])
def event_create(request: HttpRequest) -> HttpResponse:
    if not selectors.event_can_create(user=request.user):
        raise PermissionDenied("Only organizers can create events.")
    form = EventForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            event = services.event_create(organizer=request.user, **form.cleaned_data)
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(request, "Event created.")
            return redirect(event)
    status = 400 if request.method == "POST" else 200
    return render(request, "events/form.html", {"form": form, "event": None}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def event_edit(request: HttpRequest, event_id: int) -> HttpResponse:
    event = _managed_event_or_403(request, event_id)
    if event.is_cancelled:
        messages.error(request, "A cancelled event cannot be edited.")
        return redirect(event)
    form = EventForm(request.POST or None, instance=event, confirmed_count=event.confirmed_count)
    if request.method == "POST" and form.is_valid():
        try:
            services.event_update(event=event, actor=request.user, changes=form.changes())
        except ValidationError as error:
            add_validation_error(form, error)
        else:
            messages.success(
                request, "Event saved. Registrants and followers are told what changed."
            )
            return redirect("events:detail", event_id)
    status = 400 if request.method == "POST" else 200
    return render(request, "events/form.html", {"form": form, "event": event}, status=status)


@login_required
@require_GET
def event_registrations(request: HttpRequest, event_id: int) -> HttpResponse:
    """Every active registration, a page at a time (the event page lists only the first)."""
    event = _managed_event_or_403(request, event_id)
    page = Paginator(selectors.event_attendees(event=event), REGISTRATIONS_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "events/registrations.html",
        {"event": event, "page": page, "attendees": page.object_list},
    )


@login_required
@require_http_methods(["GET", "POST"])
def event_cancel(request: HttpRequest, event_id: int) -> HttpResponse:
    event = _managed_event_or_403(request, event_id)
    if request.method == "POST":
        services.event_cancel(event=event, actor=request.user)
        messages.success(request, "Event cancelled. Everyone registered has been told.")
        return redirect("events:detail", event_id)
    return render(request, "events/cancel.html", {"event": event})
