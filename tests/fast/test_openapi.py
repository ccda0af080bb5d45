"""The served OpenAPI schema is valid and describes every API route."""

import re

import yaml
from django.core.management import call_command
from django.test import Client
from django.urls import get_resolver


def test_the_schema_validates_without_warnings(db, tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert yaml.safe_load(out.read_text())["openapi"].startswith("3.")


def test_the_served_schema_lists_every_api_route(db):
    schema = yaml.safe_load(Client().get("/api/schema/").content)
    documented = set(schema["paths"])
    api = next(p for p in get_resolver().url_patterns if str(p.pattern) == "api/")
    routes = {"/api/" + re.sub(r"<\w+:(\w+)>", r"{\1}", str(p.pattern)) for p in api.url_patterns}
    assert routes == documented
