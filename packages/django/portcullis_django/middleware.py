from django.conf import settings
from django.utils.decorators import sync_and_async_middleware

from . import DEFAULT_JAIL, HEADER
from .state import REQUEST_ATTR, current

try:  # asgiref >= 3.6 (Django 4.2+ requires it): also knows functions marked as coroutines
    from asgiref.sync import iscoroutinefunction
except ImportError:  # pragma: no cover - older asgiref with Django 3.2
    from asyncio import iscoroutinefunction


@sync_and_async_middleware
def LoginFailureHeaderMiddleware(get_response):  # noqa: N802 - the documented MIDDLEWARE path
    """
    Sets ``X-Portcullis-Failure: <jail>`` on the response when
    user_login_failed fired while handling the request. The jail comes from
    ``settings.PORTCULLIS_FAILURE_JAIL`` (default "django-login"). Place it
    first in MIDDLEWARE so it sees failures raised anywhere below it. Runs
    natively under WSGI and ASGI: no sync/async hop of its own.
    """
    jail = getattr(settings, "PORTCULLIS_FAILURE_JAIL", DEFAULT_JAIL)

    def mark(request, flag, response):
        if flag[0] or getattr(request, REQUEST_ATTR, False):
            response[HEADER] = jail
        return response

    if iscoroutinefunction(get_response):

        async def middleware(request):
            flag = [False]
            token = current.set(flag)
            try:
                response = await get_response(request)
            finally:
                current.reset(token)
            return mark(request, flag, response)

    else:

        def middleware(request):
            flag = [False]
            token = current.set(flag)
            try:
                response = get_response(request)
            finally:
                current.reset(token)
            return mark(request, flag, response)

    return middleware
