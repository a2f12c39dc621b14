"""Store a source's parsed entries as Articles with a fixed number of queries."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from news.models import Article

BATCH_SIZE = 500


@dataclass
class StoreResult:
    created: int = 0
    updated: int = 0


def store_entries(source, entries, run=None):
    """Insert new articles and update changed ones for `source`, atomically.

    Entries that share an identity within one feed are stored once (the
    last one wins). `created` counts rows this call really inserted: a row
    that a concurrent run inserted first counts as an update here, so two
    runs racing over the same feed never both claim it.
    """
    unique = {}
    for entry in entries:
        unique[entry.identity] = entry
    if not unique:
        return StoreResult()

    now = timezone.now()
    with transaction.atomic():
        existing = _existing_articles(unique.keys())
        new_entries = [entry for key, entry in unique.items() if key not in existing]
        created_ids = _insert(new_entries, run, now)

        # Rows another process inserted between our read and our insert.
        lost_race = [entry.identity for entry in new_entries if entry.identity not in created_ids]
        existing.update(_existing_articles(lost_race))

        updated = _update_changed(existing, unique, now)
        _touch(existing.values(), now)
        _link_to_source(source, list(created_ids.values()) + [a.pk for a in existing.values()])

    return StoreResult(created=len(created_ids), updated=updated)


def _existing_articles(identities):
    found = {}
    identities = list(identities)
    for start in range(0, len(identities), BATCH_SIZE):
        batch = identities[start : start + BATCH_SIZE]
        for article in Article.objects.filter(identity__in=batch):
            found[article.identity] = article
    return found


def _insert(entries, run, now):
    """Insert `entries` and return {identity: pk} for the rows inserted."""
    if not entries:
        return {}
    Article.objects.bulk_create(
        [
            Article(
                identity=entry.identity,
                first_seen_at=now,
                last_seen_at=now,
                first_run=run,
                **{name: getattr(entry, name) for name in entry.CONTENT_FIELDS},
            )
            for entry in entries
        ],
        batch_size=BATCH_SIZE,
        ignore_conflicts=True,
    )
    # ignore_conflicts returns no primary keys and no hint of which rows
    # were skipped, so read back the rows stamped with this insert's time.
    identities = [entry.identity for entry in entries]
    inserted = {}
    for start in range(0, len(identities), BATCH_SIZE):
        rows = Article.objects.filter(
            identity__in=identities[start : start + BATCH_SIZE],
            first_seen_at=now,
            first_run=run,
        ).values_list("identity", "pk")
        inserted.update(rows)
    return inserted


def _update_changed(existing, unique, now):
    changed = []
    for key, article in existing.items():
        entry = unique[key]
        dirty = False
        for name in entry.CONTENT_FIELDS:
            value = getattr(entry, name)
            if getattr(article, name) != value:
                setattr(article, name, value)
                dirty = True
        if dirty:
            article.last_seen_at = now
            changed.append(article)
    if changed:
        Article.objects.bulk_update(
            changed, [*unique[changed[0].identity].CONTENT_FIELDS, "last_seen_at"],
            batch_size=BATCH_SIZE,
        )
    return len(changed)


def _touch(articles, now):
    pks = [article.pk for article in articles]
    for start in range(0, len(pks), BATCH_SIZE):
        Article.objects.filter(pk__in=pks[start : start + BATCH_SIZE]).update(last_seen_at=now)


def _link_to_source(source, article_ids):
    through = Article.sources.through
    through.objects.bulk_create(
        [through(article_id=pk, source_id=source.pk) for pk in article_ids],
        batch_size=BATCH_SIZE,
        ignore_conflicts=True,
    )
