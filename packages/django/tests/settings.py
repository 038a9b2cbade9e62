"""Settings for the package's own tests (python -m django test --settings tests.settings)."""
SECRET_KEY = "tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "portcullis_django",
]
MIDDLEWARE = [
    "portcullis_django.middleware.LoginFailureHeaderMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "tests.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
SESSION_ENGINE = "django.contrib.sessions.backends.signed_cookies"
USE_TZ = True
# credentials checked without a database, so requests can run in parallel threads and tasks
AUTHENTICATION_BACKENDS = ["tests.backends.DemoBackend"]
