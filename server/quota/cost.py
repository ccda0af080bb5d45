"""What one request costs, counted the way Open-Meteo counts it."""

from decimal import ROUND_CEILING, Decimal

# Open-Meteo counts one location as one call up to these; beyond, the weight grows in proportion
# (15 variables: 1.5 calls; 4 weeks: 2 calls), and the two weights multiply.
VARIABLES_PER_CALL = 10
DAYS_PER_CALL = 14
_PRECISION = Decimal("0.001")


def request_cost(*, locations: int, variables: int, days: float = 1) -> Decimal:
    """Calls charged for a request of `locations` places, `variables` variables and `days` of data.

    Rounded up to a thousandth of a call, so the budget never counts less than the provider does.
    """
    if locations < 0 or variables < 0 or days < 0:
        raise ValueError("locations, variables and days cannot be negative")
    if locations == 0:
        return Decimal(0)
    weight = max(Decimal(1), Decimal(variables) / VARIABLES_PER_CALL) * max(
        Decimal(1), Decimal(str(days)) / DAYS_PER_CALL
    )
    return (locations * weight).quantize(_PRECISION, rounding=ROUND_CEILING)
