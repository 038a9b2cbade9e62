"""
Portcullis helper for Django: marks every response whose request saw a
failed login (django.contrib.auth's user_login_failed signal) with the
header ``X-Portcullis-Failure: <jail>``. The Portcullis gateway counts it
as a failure in that jail and strips the header before the client sees it.
"""

__version__ = "0.1.0"

# The gateway reads the same name (FAILURE_HEADER in @portcullis/core);
# test/django-package.test.ts keeps the two equal.
HEADER = "X-Portcullis-Failure"
DEFAULT_JAIL = "django-login"
