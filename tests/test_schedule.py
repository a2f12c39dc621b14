import socket

from django_rq.cron import DjangoCronScheduler

from news.embedded_redis import EmbeddedRedis


def test_cron_config_registers_fetch_and_reaper(settings):
    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("news.cron")
    intervals = {job.name: job.interval for job in scheduler.get_jobs()}
    assert intervals == {
        "news.scheduled_fetch": settings.NEWS_FETCH_INTERVAL_MINUTES * 60,
        "news.reap_abandoned_runs": settings.NEWS_LOCK_TTL,
    }


def test_cron_starts_first_fetch_right_away():
    scheduler = DjangoCronScheduler()
    scheduler.load_config_from_file("news.cron")
    fetch = next(job for job in scheduler.get_jobs() if job.name == "news.scheduled_fetch")
    assert fetch.should_run()


def test_embedded_redis_answers_on_its_socket(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis.sock", logfile=tmp_path / "redis.log").start()
    try:
        client = socket.socket(socket.AF_UNIX)
        client.connect(str(server.socket_path))
        client.sendall(b"PING\r\n")
        assert client.recv(16) == b"+PONG\r\n"
        client.close()
    finally:
        server.stop()
    assert server.process is None
