from django.urls import path

from quota.api import QuotaApi
from weather.api import views

app_name = "api"

urlpatterns = [
    path("cities/", views.CityListCreateApi.as_view(), name="city-list"),
    path("cities/<int:city_id>/", views.CityDetailApi.as_view(), name="city-detail"),
    path("cities/<int:city_id>/weather/", views.CityWeatherApi.as_view(), name="city-weather"),
    path("cities/<int:city_id>/refresh/", views.CityRefreshApi.as_view(), name="city-refresh"),
    path("pipeline/refresh-all/", views.RefreshAllApi.as_view(), name="refresh-all"),
    path("pipeline/etl/", views.EtlApi.as_view(), name="etl"),
    path("runs/", views.RunListApi.as_view(), name="run-list"),
    path("runs/<int:run_id>/", views.RunDetailApi.as_view(), name="run-detail"),
    path("tasks/<uuid:task_id>/", views.TaskStatusApi.as_view(), name="task-status"),
    path("quota/", QuotaApi.as_view(), name="quota"),
]
