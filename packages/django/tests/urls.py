"""Login views in each shape the middleware has to see: sync and async, with and without the request."""
import json

from asgiref.sync import sync_to_async
from django.contrib.auth import authenticate
from django.http import HttpResponse, JsonResponse
from django.urls import path


def _check(request, pass_request):
    # JSON: Django 3.2's AsyncClient cannot send a multipart body
    data = json.loads(request.body)
    username, password = data["username"], data["password"]
    if pass_request:
        return authenticate(request, username=username, password=password)
    # code that forgets the request: the middleware's context variable stands in
    return authenticate(username=username, password=password)


def sync_login(request):
    user = _check(request, pass_request=True)
    return JsonResponse({"ok": user is not None}, status=200 if user else 401)


def sync_login_without_request(request):
    return JsonResponse({"ok": _check(request, pass_request=False) is not None})


async def async_login(request):
    user = await sync_to_async(_check)(request, True)
    return JsonResponse({"ok": user is not None})


async def async_login_without_request(request):
    user = await sync_to_async(_check)(request, False)
    return JsonResponse({"ok": user is not None})


def page(request):
    return HttpResponse("hello")


urlpatterns = [
    path("login/", sync_login),
    path("login-no-request/", sync_login_without_request),
    path("async/login/", async_login),
    path("async/login-no-request/", async_login_without_request),
    path("page/", page),
]
