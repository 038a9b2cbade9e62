"""
System checks (``manage.py check``, run by runserver and migrate): the app
does nothing without its middleware, and sees less when it is not first.
"""
from django.conf import settings
from django.core.checks import Tags, Warning, register

MIDDLEWARE_PATH = "portcullis_django.middleware.LoginFailureHeaderMiddleware"


@register(Tags.compatibility)
def check_middleware(app_configs=None, **kwargs):
    middleware = list(getattr(settings, "MIDDLEWARE", None) or [])
    if MIDDLEWARE_PATH not in middleware:
        return [
            Warning(
                "portcullis_django is installed but its middleware is not in MIDDLEWARE: "
                "failed logins are not reported to the Portcullis gateway.",
                hint=f"Add '{MIDDLEWARE_PATH}' as the first entry of MIDDLEWARE.",
                id="portcullis_django.W001",
            )
        ]
    before = middleware[: middleware.index(MIDDLEWARE_PATH)]
    if before:
        return [
            Warning(
                f"{MIDDLEWARE_PATH} is not the first entry of MIDDLEWARE: failed logins in "
                f"{', '.join(before)}, or responses they answer on their own, are not reported.",
                hint="Move it to the top of MIDDLEWARE (or silence portcullis_django.W002 if this order is meant).",
                id="portcullis_django.W002",
            )
        ]
    return []
