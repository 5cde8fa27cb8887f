"""`make loadtest`: a mixed partner and staff workload against gunicorn and Celery on this
machine (run.py drives it; locustfile.py is the workload; workload.py builds and judges its
requests; report.py prints the figures)."""
