"""Settings for the blocking variant of bench/trigger_load.py: the project plus one view.

The extra view runs the fetch inside the request, the design that the queued
trigger exists to avoid. It is served only by the benchmark, on 127.0.0.1.
"""

from newsproject.settings import *  # noqa: F401,F403

ROOT_URLCONF = "bench.blocking_urls"
