"""The catalogue of notification kinds: the one place that knows each kind's defaults.

Each kind's texts are Django templates under ``notifications/kinds/<key>/`` (override them like
any template); a part a kind does not define falls back to ``notifications/kinds/_default/``.
Template parts: ``title.txt``, ``body.txt`` (in-app), ``email_subject.txt``, ``email.txt``,
``email.html``, ``sms.txt``, ``push.json`` (web push), ``mobile.json`` (the app's push: title,
body, deep link, badge, collapse key). They are rendered with the ``context`` given to
``notify`` plus ``subject`` (the model instance, or None) and, for the external channels,
``notification`` and ``recipient``.
"""

from dataclasses import dataclass

from notifications.models import Channel, Priority

TEMPLATE_PARTS = (
    "title.txt",
    "body.txt",
    "email_subject.txt",
    "email.txt",
    "email.html",
    "sms.txt",
    "push.json",
    "mobile.json",
)


@dataclass(frozen=True)
class Kind:
    key: str
    label: str
    priority: str
    channels: frozenset[str]  # on by default; a Preference row overrides per user
    description: str = ""
    internal: bool = False  # made by the pipeline itself, not offered on the preferences page

    def template_names(self, part: str) -> list[str]:
        """Candidates for one template part, most specific first (for ``select_template``)."""
        if part not in TEMPLATE_PARTS:
            raise ValueError(f"Unknown template part {part!r}")
        return [f"notifications/kinds/{self.key}/{part}", f"notifications/kinds/_default/{part}"]

    def default_enabled(self, channel: str) -> bool:
        return channel in self.channels


IN_APP_ONLY = frozenset({Channel.IN_APP})
IN_APP_AND_EMAIL = frozenset({Channel.IN_APP, Channel.EMAIL})
# Pushed to browsers and to the phone app alike: news worth interrupting someone for.
PUSHED = frozenset({Channel.IN_APP, Channel.EMAIL, Channel.PUSH, Channel.MOBILE})

EVENT_UPDATED = "event_updated"
EVENT_CANCELLED = "event_cancelled"
REGISTRATION_CONFIRMED = "registration_confirmed"
WAITLIST_JOINED = "waitlist_joined"
WAITLIST_PROMOTED = "waitlist_promoted"
CAPACITY_WARNING = "capacity_warning"
EVENT_REMINDER = "event_reminder"
GAME_SCORED = "game_scored"
RANK_CHANGED = "rank_changed"
RATE_LIMIT_SUMMARY = "rate_limit_summary"
EMAIL_DIGEST = "email_digest"
OPS_ALERT = "ops_alert"
BROADCAST = "broadcast"

KINDS: dict[str, Kind] = {
    kind.key: kind
    for kind in (
        Kind(EVENT_UPDATED, "Event updated", Priority.NORMAL, IN_APP_AND_EMAIL,
             "An event you follow changed (time, place, details)."),
        Kind(EVENT_CANCELLED, "Event cancelled", Priority.URGENT,
             PUSHED,
             "An event you registered for or follow was cancelled."),
        Kind(REGISTRATION_CONFIRMED, "Registration confirmed", Priority.HIGH, IN_APP_AND_EMAIL,
             "Your place at an event is confirmed."),
        Kind(WAITLIST_JOINED, "Added to the waiting list", Priority.NORMAL, IN_APP_ONLY,
             "The event was full; you are on its waiting list."),
        Kind(WAITLIST_PROMOTED, "Waiting-list place offered", Priority.HIGH,
             PUSHED,
             "A place freed up and is now yours."),
        Kind(CAPACITY_WARNING, "Capacity warning", Priority.NORMAL, IN_APP_ONLY,
             "An event you organise is nearly full."),
        Kind(EVENT_REMINDER, "Event reminder", Priority.HIGH, IN_APP_AND_EMAIL,
             "An event you registered for starts soon."),
        Kind(GAME_SCORED, "Game scored", Priority.NORMAL, IN_APP_ONLY,
             "Your game was scored, chapter by chapter."),
        Kind(RANK_CHANGED, "Rank changed", Priority.LOW, IN_APP_ONLY,
             "You entered the top 10 or someone overtook you there."),
        Kind(RATE_LIMIT_SUMMARY, "More notifications", Priority.NORMAL, IN_APP_ONLY,
             "A burst of one kind collapsed into one summary.", internal=True),
        Kind(EMAIL_DIGEST, "Email digest", Priority.LOW, frozenset({Channel.EMAIL}),
             "Low-priority emails of a window sent as one.", internal=True),
        Kind(OPS_ALERT, "Operations alert", Priority.URGENT, IN_APP_ONLY,
             "Staff only: a dead-letter, breaker, queue or socket alarm.", internal=True),
        Kind(BROADCAST, "Announcement", Priority.NORMAL, IN_APP_ONLY,
             "An announcement from the site's staff."),
    )
}


def get_kind(key: str) -> Kind:
    try:
        return KINDS[key]
    except KeyError:
        raise ValueError(f"Unknown notification kind {key!r}; see notifications/kinds.py") from None


def user_facing_kinds() -> list[Kind]:
    """The kinds a user can choose channels for (the preferences matrix)."""
    return [kind for kind in KINDS.values() if not kind.internal]
