"""`GET /api/quota/`: the shared budget, per window, and the current pause."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from quota.selectors import quota_status


class WindowStatusSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="minute, hour or day")
    seconds = serializers.IntegerField(help_text="The window's length.")
    limit = serializers.IntegerField()
    used = serializers.DecimalField(max_digits=14, decimal_places=3, coerce_to_string=False)
    left = serializers.DecimalField(max_digits=14, decimal_places=3, coerce_to_string=False)
    resets_at = serializers.DateTimeField(help_text="When this window closes and its count restarts.")


class QuotaStatusSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The API whose calls are counted.")
    windows = WindowStatusSerializer(many=True)
    left = serializers.DecimalField(
        max_digits=14, decimal_places=3, coerce_to_string=False, help_text="Calls that can be spent now."
    )
    paused_until = serializers.DateTimeField(allow_null=True, help_text="No call before this (a 429).")
    pause_reason = serializers.CharField(allow_blank=True)


class QuotaApi(APIView):
    @extend_schema(responses=QuotaStatusSerializer)
    def get(self, request):
        status = quota_status()
        data = {**status.__dict__, "left": status.left()}
        return Response(QuotaStatusSerializer(data).data)
