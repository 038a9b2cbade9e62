"""
The login flows the gateway has to recognise. Credentials are never logged
or echoed back.
"""
import json

from django.contrib.auth import authenticate, login
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST


def _credentials(request):
    """(username, password) from a JSON or form body, or None."""
    if request.content_type == "application/json":
        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
    else:
        data = request.POST
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return None
    return username, password


# An API endpoint: clients send no CSRF token (as with DRF's token views).
@csrf_exempt
@require_POST
def api_login(request):
    creds = _credentials(request)
    if creds is None:
        return JsonResponse({"detail": "username and password are required"}, status=400)
    user = authenticate(request, username=creds[0], password=creds[1])
    if user is None:
        return JsonResponse({"detail": "Invalid credentials."}, status=401)
    login(request, user)
    return JsonResponse({"ok": True, "username": user.get_username()})


@csrf_exempt
@require_POST
def custom_login(request):
    """A login whose status says nothing: failures are 200 {"ok": false}."""
    creds = _credentials(request)
    user = authenticate(request, username=creds[0], password=creds[1]) if creds else None
    if user is None:
        return JsonResponse({"ok": False})
    login(request, user)
    return JsonResponse({"ok": True})
