from django.urls import path

from news.views import fetch_runs

app_name = "news"

urlpatterns = [
    path("api/fetch-runs/", fetch_runs.fetch_run_list, name="fetch-run-list"),
    path("api/fetch-runs/<int:run_id>/", fetch_runs.fetch_run_detail, name="fetch-run-detail"),
]
