from tests.openmeteo_stub.server import OpenMeteoStub
from tests.openmeteo_stub.world import current_slot, expected_current

__all__ = ["OpenMeteoStub", "current_slot", "expected_current"]
