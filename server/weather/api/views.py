"""Thin HTTP views: parse and validate input, call a service or selector, shape the output."""

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from access.permissions import CatalogAccess
from weather import selectors, workflows
from weather.api import serializers as s
from weather.models import PipelineRun
from weather.services.cities import city_create


def _query(serializer_class, request):
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _run_enqueued(request, run: PipelineRun, *, new: bool = True) -> Response:
    body = {
        "task_id": run.task_id,
        "status_url": request.build_absolute_uri(reverse("api:task-status", args=[run.task_id])),
        "run_id": run.id,
        "run_url": request.build_absolute_uri(reverse("api:run-detail", args=[run.id])),
    }
    # 200: the answer is a run that was already under way, not one this request started.
    return Response(body, status=status.HTTP_202_ACCEPTED if new else status.HTTP_200_OK)


class CityListCreateApi(APIView):
    permission_classes = [CatalogAccess]
    write_permission = "weather.add_city"

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
    permission_classes = [CatalogAccess]

    @extend_schema(responses=s.CitySerializer)
    def get(self, request, city_id: int):
        return Response(s.CitySerializer(selectors.city_get(city_id=city_id)).data)


class CityWeatherApi(APIView):
    permission_classes = [CatalogAccess]

    @extend_schema(
        parameters=[OpenApiParameter("limit", int, description="Newest first, 1 to 1000 (default 50).")],
        responses=s.WeatherDataSerializer(many=True),
    )
    def get(self, request, city_id: int):
        limit = _query(s.LimitSerializer, request)["limit"]
        selectors.city_get(city_id=city_id)
        rows = selectors.city_weather_list(city_id=city_id, limit=limit)
        return Response(s.WeatherDataSerializer(rows, many=True).data)


class CityRefreshApi(APIView):
    permission_classes = [CatalogAccess]
    write_permission = "weather.add_weatherdata"

    @extend_schema(
        request=None,
        responses={200: s.TaskEnqueuedSerializer, 202: s.TaskEnqueuedSerializer, 429: s.ErrorSerializer},
    )
    def post(self, request, city_id: int):
        city = selectors.city_get(city_id=city_id)
        # A spent budget (the API's, the schedule's reserve or the caller's share) answers 429 with
        # Retry-After now rather than queueing a fetch that waits; joining a queued fetch is free.
        task_id, new = workflows.city_refresh_enqueue(city_id=city.id, caller=str(request.user.pk))
        status_url = request.build_absolute_uri(reverse("api:task-status", args=[task_id]))
        code = status.HTTP_202_ACCEPTED if new else status.HTTP_200_OK  # 200: the fetch already queued
        return Response({"task_id": task_id, "status_url": status_url}, status=code)


class RefreshAllApi(APIView):
    @extend_schema(request=None, responses={200: s.RunEnqueuedSerializer, 202: s.RunEnqueuedSerializer})
    def post(self, request):
        run, new = workflows.refresh_run_enqueue_or_join()
        return _run_enqueued(request, run, new=new)


class EtlApi(APIView):
    @extend_schema(request=s.EtlInputSerializer, responses={202: s.RunEnqueuedSerializer})
    def post(self, request):
        data = s.EtlInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = workflows.etl_run_enqueue(source=data.validated_data["source"])
        return _run_enqueued(request, run)


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
        return Response(s.PipelineRunDetailSerializer(selectors.run_get(run_id=run_id)).data)


class TaskStatusApi(APIView):
    @extend_schema(responses=s.TaskStatusSerializer)
    def get(self, request, task_id: str):
        return Response(selectors.task_status_get(task_id=str(task_id)))
