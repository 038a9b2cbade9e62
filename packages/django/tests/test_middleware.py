import asyncio
import threading

from asgiref.sync import iscoroutinefunction
from django.test import AsyncClient, Client, SimpleTestCase, override_settings

from portcullis_django import HEADER
from portcullis_django.middleware import LoginFailureHeaderMiddleware

from .backends import PASSWORD, USERNAME

GOOD = {"username": USERNAME, "password": PASSWORD}
BAD = {"username": USERNAME, "password": "wrong"}
JSON = "application/json"


class SyncRequests(SimpleTestCase):
    def test_failed_login_marks_the_response(self):
        response = self.client.post("/login/", BAD, content_type=JSON)
        self.assertEqual(response.status_code, 401)
        self.assertEqual(response[HEADER], "django-login")

    def test_good_login_is_not_marked(self):
        response = self.client.post("/login/", GOOD, content_type=JSON)
        self.assertEqual(response.status_code, 200)
        self.assertFalse(response.has_header(HEADER))

    def test_authenticate_without_the_request_is_still_seen(self):
        self.assertEqual(self.client.post("/login-no-request/", BAD, content_type=JSON)[HEADER], "django-login")
        self.assertFalse(self.client.post("/login-no-request/", GOOD, content_type=JSON).has_header(HEADER))

    def test_a_clean_request_is_not_marked(self):
        self.assertFalse(self.client.get("/page/").has_header(HEADER))

    @override_settings(PORTCULLIS_FAILURE_JAIL="api-login")
    def test_the_jail_comes_from_settings(self):
        self.assertEqual(Client().post("/login/", BAD, content_type=JSON)[HEADER], "api-login")

    def test_parallel_threads_never_see_each_others_failure(self):
        # half the threads fail, half succeed, all at once: each response tells its own outcome
        barrier = threading.Barrier(16)
        results = {}

        def worker(i):
            client = Client()
            body = BAD if i % 2 else GOOD
            barrier.wait()
            results[i] = [client.post(path, body, content_type=JSON).has_header(HEADER) for path in ("/login/", "/login-no-request/")]

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, {i: [bool(i % 2)] * 2 for i in range(16)})


class AsyncRequests(SimpleTestCase):
    async def test_async_view_failed_login_marks_the_response(self):
        response = await AsyncClient().post("/async/login/", BAD, content_type=JSON)
        self.assertEqual(response[HEADER], "django-login")
        self.assertFalse((await AsyncClient().post("/async/login/", GOOD, content_type=JSON)).has_header(HEADER))

    async def test_async_view_without_the_request_is_still_seen(self):
        self.assertEqual((await AsyncClient().post("/async/login-no-request/", BAD, content_type=JSON))[HEADER], "django-login")

    async def test_sync_view_under_asgi(self):
        self.assertEqual((await AsyncClient().post("/login/", BAD, content_type=JSON))[HEADER], "django-login")
        self.assertFalse((await AsyncClient().get("/page/")).has_header(HEADER))

    async def test_concurrent_tasks_never_see_each_others_failure(self):
        client = AsyncClient()
        paths = ["/async/login/", "/async/login-no-request/", "/login-no-request/"]
        cases = [(paths[i % 3], bool(i % 2)) for i in range(60)]
        responses = await asyncio.gather(*(client.post(path, BAD if bad else GOOD, content_type=JSON) for path, bad in cases))
        self.assertEqual([r.has_header(HEADER) for r in responses], [bad for _, bad in cases])


class NativeMode(SimpleTestCase):
    """No sync/async hop of its own: the middleware takes the mode of the handler below it."""

    def test_async_below_gives_an_async_middleware(self):
        async def get_response(request):
            return None

        self.assertTrue(iscoroutinefunction(LoginFailureHeaderMiddleware(get_response)))

    def test_sync_below_gives_a_sync_middleware(self):
        self.assertFalse(iscoroutinefunction(LoginFailureHeaderMiddleware(lambda request: None)))
        self.assertTrue(LoginFailureHeaderMiddleware.sync_capable)
        self.assertTrue(LoginFailureHeaderMiddleware.async_capable)
