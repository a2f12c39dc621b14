"""A requests Session whose connections use sockets opened by a function the caller passes.

news.download gives it a function that resolves the host, connects only to
an address that its guard allows and returns the connected socket. urllib3
then sends the request on that socket as usual. For https it wraps the
socket in TLS with the URL's host name for SNI and the certificate check,
and the Host header also keeps the name.

The hooks are urllib3 2.x internals (HTTPConnection._new_conn and
PoolManager._new_pool), read from urllib3 2.8.0, which requirements.txt pins.
"""

import http.cookiejar

import requests
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class _OpenSocketMixin:
    """A connection that opens its socket with `open_socket(host, port)`."""

    def __init__(self, *args, open_socket, **kwargs):
        super().__init__(*args, **kwargs)
        self.open_socket = open_socket

    def _new_conn(self):
        # Replaces socket.create_connection(). open_socket applies its own
        # connect timeout, and exceptions other than OSError and urllib3's
        # own pass through urllib3 and requests unchanged. _dns_host keeps a
        # trailing dot, as urllib3's own _new_conn() does for the lookup.
        return self.open_socket(self._dns_host, self.port)


class GuardedHTTPConnection(_OpenSocketMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_OpenSocketMixin, HTTPSConnection):
    pass


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedPoolManager(PoolManager):
    """A PoolManager whose pools open every connection with `open_socket`."""

    def __init__(self, open_socket, **kwargs):
        super().__init__(**kwargs)
        self.open_socket = open_socket
        self.pool_classes_by_scheme = {
            "http": GuardedHTTPConnectionPool,
            "https": GuardedHTTPSConnectionPool,
        }

    def _new_pool(self, scheme, host, port, request_context=None):
        if request_context is None:
            request_context = self.connection_pool_kw.copy()
        # The pool key is already computed here, so this keyword does not
        # reach PoolKey, which has no field for it. The pool passes its extra
        # keywords on to each connection that it creates.
        request_context = {**request_context, "open_socket": self.open_socket}
        return super()._new_pool(scheme, host, port, request_context)


class GuardedAdapter(HTTPAdapter):
    """An HTTPAdapter that connects through `open_socket` and never through a proxy."""

    def __init__(self, open_socket):
        # HTTPAdapter.__init__ calls init_poolmanager(), which needs this.
        self.open_socket = open_socket
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = GuardedPoolManager(
            self.open_socket, num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs
        )

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        # A proxy connection goes to the proxy's address instead of one that
        # open_socket checked, so the guard would not apply to the feed's
        # host. Only a programming error reaches this, because
        # guarded_session() sets no proxies and ignores the environment's.
        raise RuntimeError(f"proxy {proxy} set on a guarded session, which must not use proxies")


class GuardedSession(requests.Session):
    """A Session that leaves redirects to its caller."""

    def get_redirect_target(self, resp):
        # Session.send() prepares Response.next for a redirect even with
        # allow_redirects=False, and to do that it reads the redirect's whole
        # body, decoded and with no size cap (requests 2.34.2). With no target
        # it reads nothing, and the caller takes Location from the headers.
        return None


def guarded_session(open_socket):
    """Return a GuardedSession whose http and https connections use `open_socket(host, port)`.

    The session ignores the environment (trust_env is False), so proxy
    variables, .netrc credentials and REQUESTS_CA_BUNDLE have no effect.
    It keeps no cookies and sends only the headers given to each request,
    plus the Host header and, when a request omits them, urllib3's
    User-Agent and http.client's "Accept-Encoding: identity".
    """
    session = GuardedSession()
    session.trust_env = False
    session.headers.clear()
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    adapter = GuardedAdapter(open_socket)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
