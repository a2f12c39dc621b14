"""The benchmark corpus server must honour validators, or the re-fetch numbers mean nothing."""

import feedparser
import pytest
import requests

from bench.corpus import EDITED_MARK, Corpus, CorpusServer


@pytest.fixture
def corpus_server():
    with CorpusServer(Corpus(sources=20, entries=20)) as server:
        yield server


def test_corpus_server_answers_matching_etag_with_304(corpus_server):
    url = corpus_server.feed_urls()[0]
    first = requests.get(url, timeout=5)
    second = requests.get(url, headers={"If-None-Match": first.headers["ETag"]}, timeout=5)
    assert second.status_code == 304


def test_corpus_server_answers_last_modified_with_304(corpus_server):
    url = corpus_server.feed_urls()[0]
    first = requests.get(url, timeout=5)
    second = requests.get(url, headers={"If-Modified-Since": first.headers["Last-Modified"]}, timeout=5)
    assert second.status_code == 304


def test_changed_feed_is_served_again_after_version_change(corpus_server):
    url = corpus_server.feed_urls()[10]
    etag = requests.get(url, timeout=5).headers["ETag"]
    requests.post(f"{corpus_server.base_url}/versions", data="10", timeout=5).raise_for_status()
    assert requests.get(url, headers={"If-None-Match": etag}, timeout=5).status_code == 200


def test_feed_version_one_adds_and_edits_entries():
    corpus = Corpus(sources=20, entries=20)
    before = {entry.id: entry.title for entry in feedparser.parse(corpus.body(3)).entries}
    after = {entry.id: entry.title for entry in feedparser.parse(corpus.body(3, version=1)).entries}
    assert len(after) == 20
    assert len(after.keys() - before.keys()) == corpus.new_per_change
    edited = [guid for guid in after.keys() & before.keys() if after[guid] != before[guid]]
    assert len(edited) == corpus.edits_per_change
    assert all(EDITED_MARK in after[guid] for guid in edited)


def test_corpus_title_ends_with_publisher():
    entry = feedparser.parse(Corpus(sources=1, entries=1).body(0)).entries[0]
    assert entry.title.endswith(" - " + entry.source.title)
