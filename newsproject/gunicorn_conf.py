"""gunicorn settings for the web process: `gunicorn -c python:newsproject.gunicorn_conf`.

Only logging is set here, in the same one-line format as the application.
Bind address, worker count and timeouts stay gunicorn's own options, for
example GUNICORN_CMD_ARGS="--bind 0.0.0.0:8000" and WEB_CONCURRENCY=4.
"""

from newsproject.env import env_choice
from newsproject.logs import logging_config

# With a logging dictionary set, gunicorn (27.0) also logs every request to
# the gunicorn.access logger.
logconfig_dict = logging_config(
    env_choice("NEWS_LOG_FORMAT", "text", {"text", "json"}),
    loggers={"gunicorn.error": {"level": "INFO"}, "gunicorn.access": {"level": "INFO"}},
)
