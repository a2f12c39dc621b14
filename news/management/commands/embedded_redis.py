import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from news.embedded_redis import SocketInUse, check_socket_free, server_command


class Command(BaseCommand):
    help = _(
        "Run the embedded redis-server on the Unix socket that the settings use when "
        "REDIS_URL is unset, in the foreground until it is stopped."
    )

    def handle(self, *args, **options):
        socket_path = settings.EMBEDDED_REDIS_SOCKET
        try:
            check_socket_free(socket_path)
        except SocketInUse:
            raise CommandError(
                _(
                    "A redis-server already answers on %(socket)s, most likely from another "
                    "`make run` in this checkout. Stop that one first, or set REDIS_URL to "
                    "use a separate Redis."
                )
                % {"socket": socket_path}
            ) from None
        socket_path.unlink(missing_ok=True)
        self.stdout.write(_("Starting redis-server on %(socket)s.") % {"socket": socket_path})
        self.stdout.flush()
        command = server_command(socket_path)
        # Replace this process, so signals from honcho or Ctrl-C reach redis-server itself.
        os.execv(command[0], command)
