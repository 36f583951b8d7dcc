"""Apache Airflow provider: wait for vendor contact-import jobs, one normalized result for all."""

__version__ = "0.2.0"
