from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from news.embedded_redis import wait_until_ready


class Command(BaseCommand):
    help = _("Wait until the Redis of REDIS_URL (or the embedded one) responds to PING. Exits 1 on timeout.")

    def add_arguments(self, parser):
        parser.add_argument(
            "--timeout", type=float, default=30, help=_("Seconds to wait before giving up (default 30).")
        )

    def handle(self, *args, timeout, **options):
        if not wait_until_ready(settings.REDIS_URL, timeout):
            raise CommandError(
                _("Redis at %(url)s did not respond within %(timeout)s s. Start it or check REDIS_URL.")
                % {"url": without_password(settings.REDIS_URL), "timeout": timeout}
            )


def without_password(url):
    """Return `url` with any password replaced by ***, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
