from django.conf import settings

from . import DEFAULT_JAIL, HEADER
from .state import REQUEST_ATTR, current


class LoginFailureHeaderMiddleware:
    """
    Sets ``X-Portcullis-Failure: <jail>`` on the response when
    user_login_failed fired while handling the request. The jail comes from
    ``settings.PORTCULLIS_FAILURE_JAIL`` (default "django-login"). Place it
    first in MIDDLEWARE so it sees failures raised anywhere below it.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.jail = getattr(settings, "PORTCULLIS_FAILURE_JAIL", DEFAULT_JAIL)

    def __call__(self, request):
        flag = [False]
        token = current.set(flag)
        try:
            response = self.get_response(request)
        finally:
            current.reset(token)
        if flag[0] or getattr(request, REQUEST_ATTR, False):
            response[HEADER] = self.jail
        return response
