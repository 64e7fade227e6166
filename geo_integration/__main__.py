"""``python -m geo_integration``: same as the ``geo-integration`` command."""

from geo_integration.cli import run

if __name__ == "__main__":
    run()
