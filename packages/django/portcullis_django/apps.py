from django.apps import AppConfig


class PortcullisDjangoConfig(AppConfig):
    name = "portcullis_django"
    verbose_name = "Portcullis"
    default = True

    def ready(self):
        from django.contrib.auth.signals import user_login_failed

        from . import checks  # noqa: F401 - registers the system checks
        from .signals import mark_login_failed

        # dispatch_uid: connected once even if ready() runs twice
        user_login_failed.connect(mark_login_failed, dispatch_uid="portcullis_django.mark_login_failed")
