"""Decide which network addresses a feed download may connect to.

Feed URLs are entered by users, so a URL or a redirect could point the
fetcher at the machine itself or at the internal network. Every connection
that news.download opens goes through `resolve_allowed`, and the socket is
then connected to one of the returned addresses, never to a name that could
resolve differently a moment later.
"""

import ipaddress
import socket

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from news.messages import Message
from news.models import ErrorCode


class BlockedAddress(Exception):
    """The host resolves only to addresses that feeds may not use."""

    code = ErrorCode.BLOCKED_ADDRESS

    def __init__(self, host, address):
        self.host = host
        self.address = address
        self.message = Message(
            _(
                "%(host)s resolves to %(address)s, a loopback, private, link-local or "
                "reserved address. Feeds may not use such addresses unless "
                "NEWS_ALLOW_PRIVATE_ADDRESSES is on."
            ),
            {"host": host, "address": address},
        )
        super().__init__(self.message)


def is_public(address):
    """Return True when `address` (a string) is a globally routable unicast address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolve_allowed(host, port):
    """Resolve `host` and return the (family, sockaddr) pairs that may be used.

    Raises BlockedAddress when every address is blocked, and socket.gaierror
    when the name does not resolve.
    """
    # NOTE: getaddrinfo has no timeout, so a slow resolver can hold a source
    # past NEWS_FETCH_DEADLINE, because the watchdog in news.download starts
    # only after the lookup.
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    if settings.NEWS_ALLOW_PRIVATE_ADDRESSES:
        return [(family, sockaddr) for family, _type, _proto, _name, sockaddr in infos]

    allowed = []
    blocked = None
    for family, _type, _proto, _name, sockaddr in infos:
        if is_public(sockaddr[0]):
            allowed.append((family, sockaddr))
        elif blocked is None:
            blocked = sockaddr[0]
    if not allowed:
        raise BlockedAddress(host, blocked)
    return allowed
