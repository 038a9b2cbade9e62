from django.core.checks import Tags, run_checks
from django.test import SimpleTestCase, override_settings

from portcullis_django.checks import MIDDLEWARE_PATH

SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"


def portcullis_ids():
    return [m.id for m in run_checks(tags=[Tags.compatibility]) if m.id.startswith("portcullis_django.")]


class MiddlewareCheck(SimpleTestCase):
    def test_first_in_middleware_passes(self):
        self.assertEqual(portcullis_ids(), [])

    @override_settings(MIDDLEWARE=[SESSION, AUTH])
    def test_missing_middleware_warns(self):
        (warning,) = [m for m in run_checks() if m.id == "portcullis_django.W001"]
        self.assertIn(MIDDLEWARE_PATH, warning.hint)

    @override_settings(MIDDLEWARE=[SESSION, AUTH, MIDDLEWARE_PATH])
    def test_misordered_middleware_warns_and_names_what_comes_first(self):
        (warning,) = [m for m in run_checks() if m.id == "portcullis_django.W002"]
        self.assertIn(f"{SESSION}, {AUTH}", warning.msg)

    @override_settings(MIDDLEWARE=[SESSION, MIDDLEWARE_PATH], SILENCED_SYSTEM_CHECKS=["portcullis_django.W002"])
    def test_a_meant_order_can_be_silenced(self):
        self.assertEqual([m.id for m in run_checks() if not m.is_silenced() and m.id.startswith("portcullis")], [])
