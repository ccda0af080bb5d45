"""Thin HTTP views: parse and validate input, call a service or selector, shape the output."""

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from weather import selectors
from weather.api import serializers as s
from weather.errors import NotFoundError
from weather.models import PipelineRun
from weather.services.cities import city_create, city_get
from weather.services.enqueue import task_enqueue_on_commit
from weather.services.etl import etl_run_enqueue
from weather.services.forecast_quota import forecast_quota_check
from weather.services.runs import refresh_run_enqueue
from weather.tasks import fetch_weather_for_city


def _query(serializer_class, request):
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _run_enqueued(request, run: PipelineRun, task_id: str) -> Response:
    body = {
        "task_id": task_id,
        "status_url": request.build_absolute_uri(reverse("api:task-status", args=[task_id])),
        "run_id": run.id,
        "run_url": request.build_absolute_uri(reverse("api:run-detail", args=[run.id])),
    }
    return Response(body, status=status.HTTP_202_ACCEPTED)


class CityListCreateApi(APIView):
    @extend_schema(parameters=[s.LimitSerializer], responses=s.CityWithLatestSerializer(many=True))
    def get(self, request):
        page = _query(s.LimitSerializer, request)
        cities = selectors.city_list_with_latest()
        count = cities.count()
        results = cities[page["offset"] : page["offset"] + page["limit"]]
        return Response({"count": count, "results": s.CityWithLatestSerializer(results, many=True).data})

    @extend_schema(request=s.CityInputSerializer, responses={201: s.CitySerializer})
    def post(self, request):
        data = s.CityInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        city = city_create(**data.validated_data)
        return Response(s.CitySerializer(city).data, status=status.HTTP_201_CREATED)


class CityDetailApi(APIView):
    @extend_schema(responses=s.CitySerializer)
    def get(self, request, city_id: int):
        return Response(s.CitySerializer(city_get(city_id)).data)


class CityWeatherApi(APIView):
    @extend_schema(
        parameters=[OpenApiParameter("limit", int, description="Newest first, 1 to 1000 (default 50).")],
        responses=s.WeatherDataSerializer(many=True),
    )
    def get(self, request, city_id: int):
        limit = _query(s.LimitSerializer, request)["limit"]
        city_get(city_id)
        rows = selectors.city_weather_list(city_id=city_id, limit=limit)
        return Response(s.WeatherDataSerializer(rows, many=True).data)


class CityRefreshApi(APIView):
    @extend_schema(request=None, responses={202: s.TaskEnqueuedSerializer, 429: s.ErrorSerializer})
    def post(self, request, city_id: int):
        city = city_get(city_id)
        # A spent budget answers 429 with Retry-After now rather than queueing a fetch that waits.
        forecast_quota_check(locations=1)
        task_id = task_enqueue_on_commit(fetch_weather_for_city.si(city.id))
        status_url = request.build_absolute_uri(reverse("api:task-status", args=[task_id]))
        return Response({"task_id": task_id, "status_url": status_url}, status=status.HTTP_202_ACCEPTED)


class RefreshAllApi(APIView):
    @extend_schema(request=None, responses={202: s.RunEnqueuedSerializer})
    def post(self, request):
        run = refresh_run_enqueue()
        return _run_enqueued(request, run, run.task_id)


class EtlApi(APIView):
    @extend_schema(request=s.EtlInputSerializer, responses={202: s.RunEnqueuedSerializer})
    def post(self, request):
        data = s.EtlInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run, task_id = etl_run_enqueue(source=data.validated_data["source"])
        return _run_enqueued(request, run, task_id)


class RunListApi(APIView):
    @extend_schema(parameters=[s.RunFilterSerializer], responses=s.PipelineRunSerializer(many=True))
    def get(self, request):
        query = _query(s.RunFilterSerializer, request)
        runs = selectors.run_list(kind=query.get("kind"))
        count = runs.count()
        results = runs[query["offset"] : query["offset"] + query["limit"]]
        return Response({"count": count, "results": s.PipelineRunSerializer(results, many=True).data})


class RunDetailApi(APIView):
    @extend_schema(responses=s.PipelineRunDetailSerializer)
    def get(self, request, run_id: int):
        run = selectors.run_list().filter(pk=run_id).first()
        if run is None:
            raise NotFoundError(f"Run {run_id} does not exist.")
        return Response(s.PipelineRunDetailSerializer(run).data)


class TaskStatusApi(APIView):
    @extend_schema(responses=s.TaskStatusSerializer)
    def get(self, request, task_id: str):
        task = selectors.task_status(task_id=str(task_id))
        if task is None:
            raise NotFoundError(f"No task {task_id} is known (never queued here, or its result has expired).")
        return Response(task)
