from django.contrib.auth.models import User

USERNAME = "demo"
PASSWORD = "demo-password"


class DemoBackend:
    """One user, no database: authenticate() returns None (and so fires user_login_failed) otherwise."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username == USERNAME and password == PASSWORD:
            return User(username=USERNAME)
        return None

    def get_user(self, user_id):
        return None
