from airflow_import_status.simulators.server import main

main()
