"""
Portcullis helper for Django: marks every response whose request saw a
failed login (django.contrib.auth's user_login_failed signal) with the
header ``X-Portcullis-Failure: <jail>``. The Portcullis gateway counts it
as a failure in that jail and strips the header before the client sees it.
"""

HEADER = "X-Portcullis-Failure"
DEFAULT_JAIL = "django-login"
