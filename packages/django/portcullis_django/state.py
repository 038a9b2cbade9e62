"""
Which request saw a failed login. The signal carries ``request`` when the
caller passed it (``authenticate(request, ...)``, as the admin and LoginView
do); for callers that do not, a context variable set by the middleware for
the duration of the request stands in (each thread or asyncio task has its
own context, so concurrent requests never see each other's flag).
"""
from contextvars import ContextVar

REQUEST_ATTR = "_portcullis_login_failed"

# a one-element list per request: the receiver flips it, the middleware reads it
current = ContextVar("portcullis_login_failed", default=None)
