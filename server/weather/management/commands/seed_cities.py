from django.core.management.base import BaseCommand

from weather.services.cities import cities_seed


class Command(BaseCommand):
    help = "Load the bundled list of world cities; cities already present are left unchanged."

    def handle(self, *args, **options):
        created, total = cities_seed()
        self.stdout.write(f"Seeded cities: {created} created, {total - created} already present.")
