from django.conf import settings


def webpush(request):
    """``VAPID_PUBLIC_KEY`` for the page script that subscribes the browser to web push."""
    return {"VAPID_PUBLIC_KEY": settings.VAPID_PUBLIC_KEY}
