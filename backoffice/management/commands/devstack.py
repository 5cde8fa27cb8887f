"""Serve the app, a Celery worker (with beat) and the sandbox partner together, for `make run`.

Ctrl-C or SIGTERM stops them all; if one process dies, the others are stopped too, so a
half-running stack never hides a failure.
"""

import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the web server, a Celery worker with beat and the sandbox partner in one foreground process."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, port, host, **options):
        python = sys.executable
        commands = {
            # The sandbox partner plays the demo external systems (see connectors/demo.py).
            "sandbox": [python, "-m", "connectors.sandbox", "--port", str(settings.INTEGRATIONS_SANDBOX_PORT)],
            "web": [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
            "worker": [python, "-m", "celery", "-A", "retailops", "worker", "--beat", "--loglevel=INFO",
                       "--concurrency=2", "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME,
                       "--queues", ",".join(dict.fromkeys(["celery", settings.INTEGRATIONS_QUEUE]))],
        }
        processes = {name: subprocess.Popen(command, env=os.environ.copy()) for name, command in commands.items()}
        stopping = False

        def stop(*_signal_args):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        self.stdout.write(f"RetailOps is serving on http://{host}:{port}/ (worker, beat and the sandbox partner "
                          "running). Ctrl-C stops.")
        try:
            while not stopping and all(process.poll() is None for process in processes.values()):
                time.sleep(0.5)
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.terminate()
            deadline = time.monotonic() + 10
            for process in processes.values():
                try:
                    process.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
        failed = [name for name, process in processes.items() if process.returncode not in (0, -15, -2, None)]
        if failed and not stopping:
            raise SystemExit(f"Stopped because {', '.join(failed)} exited.")
