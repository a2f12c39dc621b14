import os

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from news.embedded_redis import server_command


class Command(BaseCommand):
    help = _(
        "Run the embedded redis-server on the Unix socket that the settings use when "
        "REDIS_URL is unset, in the foreground until it is stopped."
    )

    def handle(self, *args, **options):
        socket_path = settings.EMBEDDED_REDIS_SOCKET
        socket_path.unlink(missing_ok=True)
        self.stdout.write(_("Starting redis-server on %(socket)s.") % {"socket": socket_path})
        self.stdout.flush()
        command = server_command(socket_path)
        # Replace this process, so signals from honcho or Ctrl-C reach redis-server itself.
        os.execv(command[0], command)
