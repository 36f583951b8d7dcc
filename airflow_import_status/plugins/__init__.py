"""The Imports UI: an Airflow plugin the provider registers (``plugins`` in the provider info)."""
