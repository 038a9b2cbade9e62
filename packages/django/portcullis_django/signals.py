from .state import REQUEST_ATTR, current


def mark_login_failed(sender, credentials=None, request=None, **kwargs):
    """user_login_failed receiver. Never logs: credentials are the user's."""
    if request is not None:
        setattr(request, REQUEST_ATTR, True)
    flag = current.get()
    if flag is not None:
        flag[0] = True
