"""Admin change lists that reject filter values the database cannot compare.

A hand-typed filter such as ?published_at__gte=0001-01-01 is valid for
Django's form field, but SQLite converts it to UTC when the query is
compiled, and year 1 in Asia/Taipei is before year 1 in UTC. The error
would surface while the page renders, as a 500.
"""

from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import EmptyResultSet


class CheckedChangeList(ChangeList):
    """ChangeList that compiles its query up front, so a bad filter value shows the admin's error."""

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        try:
            queryset.query.sql_with_params()
        except EmptyResultSet:
            pass
        except (OverflowError, ValueError) as exc:
            # The change list view redirects this to "?e=1", which shows its
            # "invalid filter" notice.
            raise IncorrectLookupParameters(exc) from exc
        return queryset


class CheckedLookupsMixin:
    """ModelAdmin mixin that uses CheckedChangeList."""

    def get_changelist(self, request, **kwargs):
        return CheckedChangeList
