import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = (
        "Creates (or resets) the demo user, a staff superuser for /admin/: "
        "DJANGO_DEMO_USER / DJANGO_DEMO_PASSWORD, default demo / demo-password. Demo only."
    )

    def handle(self, *args, **options):
        username = os.environ.get("DJANGO_DEMO_USER", "demo")
        password = os.environ.get("DJANGO_DEMO_PASSWORD", "demo-password")
        User = get_user_model()
        user, created = User.objects.get_or_create(**{User.USERNAME_FIELD: username})
        user.is_staff = True
        user.is_superuser = True
        user.is_active = True
        user.set_password(password)
        user.save()
        self.stdout.write(f"demo user {username!r} {'created' if created else 'updated'}")
