"""The OpenAPI schema's security schemes: the token under either keyword (session cookies are
declared by drf-spectacular itself)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "access.authentication.ApiTokenAuthentication"
    name = ["tokenAuth", "bearerAuth"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": "`Token <key>`; a key comes from `make token USER=<name>`.",
            },
            {"type": "http", "scheme": "bearer", "description": "The same key, as `Bearer <key>`."},
        ]

    def get_security_requirement(self, auto_schema):
        # Either keyword works: two alternatives, not both at once.
        return [{"tokenAuth": []}, {"bearerAuth": []}]
