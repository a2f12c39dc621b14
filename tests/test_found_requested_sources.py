"""A run queued for chosen sources fetches every enabled source once those are deleted.

The run stores its chosen sources in requested_sources, and an empty set
means "every enabled source". Deleting the chosen sources before a worker
starts the run empties that set, so the run widens to the whole list.
"""

from news.fetching import create_run, sources_for
from news.models import FetchRun


def test_run_for_deleted_source_fetches_nothing(make_source):
    chosen = make_source("https://news.example.tw/chosen.xml", name="指定來源")
    make_source("https://news.example.tw/other.xml", name="其他來源")
    run = create_run(FetchRun.Trigger.ADMIN, sources=[chosen])

    chosen.delete()

    assert sources_for(run) == []
