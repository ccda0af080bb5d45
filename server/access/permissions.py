"""Who may do what. Deny by default (settings: StaffOnly); the catalogue views open up reads."""

from django.conf import settings
from rest_framework.permissions import SAFE_METHODS, BasePermission, IsAdminUser


class StaffOnly(IsAdminUser):
    message = "Only staff accounts may use runs, tasks, imports and full refreshes."


class CatalogAccess(BasePermission):
    """Cities and their weather. Reads are public while API_PUBLIC_READS is on, otherwise any
    signed-in user's; a write needs the Django permission named by the view's `write_permission`
    (staff and superusers get it from the admin: Users, or a group)."""

    message = "Your account lacks the permission this change needs."

    def has_permission(self, request, view) -> bool:
        user = request.user
        signed_in = bool(user and user.is_authenticated)
        if request.method in SAFE_METHODS:
            return settings.API_PUBLIC_READS or signed_in
        if not hasattr(view, request.method.lower()):
            return True  # nothing to protect: the view answers 405
        return signed_in and user.has_perm(view.write_permission)
