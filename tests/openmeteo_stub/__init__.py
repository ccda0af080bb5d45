from tests.openmeteo_stub.server import OpenMeteoStub, current_slot, expected_current

__all__ = ["OpenMeteoStub", "current_slot", "expected_current"]
