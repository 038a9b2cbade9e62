from django.contrib import admin
from django.urls import path

from demo import views

urlpatterns = [
    path("admin/", admin.site.urls),
    # the guide's API login: JSON in, 401 on bad credentials, 200 on good
    path("auth/login/", views.api_login, name="api-login"),
    # always 200: only the X-Portcullis-Failure header tells a failure
    path("custom/login/", views.custom_login, name="custom-login"),
]
