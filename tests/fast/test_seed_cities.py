from django.core.management import call_command

from weather.models import City


def test_seed_cities_loads_the_bundled_list_once(db, capsys):
    call_command("seed_cities")
    count = City.objects.count()
    assert count >= 100
    call_command("seed_cities")
    assert City.objects.count() == count
    assert "0 created" in capsys.readouterr().out
    paris = City.objects.get(name="Paris", country="FR")
    assert abs(paris.latitude - 48.86) < 0.1 and paris.timezone == "Europe/Paris"
