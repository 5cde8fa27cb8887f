"""Serve the app, a Celery worker (with beat) and the sandbox partner together, for `make run`.

The web server is gunicorn, as in production (`gunicorn.conf.py`: a bounded number of
workers, each with one database connection). Ctrl-C or SIGTERM stops them all; if one
process dies, the others are stopped too, so a half-running stack never hides a failure.
Once the app answers, the address and the demo users are printed last, below the
processes' start-up lines.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.request

from django.conf import settings
from django.core.management.base import BaseCommand

from backoffice.demo import demo_sign_ins
from connectors.demo import sandbox_web_returns_token


def web_command(*, host: str, port: int, workers: int) -> list[str]:
    """The web server as production runs it: gunicorn with `gunicorn.conf.py`."""
    return [sys.executable, "-m", "gunicorn", "retailops.wsgi:application", "--config", "gunicorn.conf.py",
            "--bind", f"{host}:{port}", "--workers", str(workers)]


class Command(BaseCommand):
    help = "Run the web server, a Celery worker with beat and the sandbox partner in one foreground process."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")),
                            help="gunicorn workers (default: WEB_CONCURRENCY, else 2).")

    def handle(self, *args, port, host, **options):
        python = sys.executable
        sandbox = [python, "-m", "connectors.sandbox", "--port", str(settings.INTEGRATIONS_SANDBOX_PORT)]
        sandbox_env = os.environ.copy()
        web_returns = sandbox_web_returns_token()
        if web_returns is not None:  # the web shop asks for return authorisations of some shipments
            api_host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104 (a comparison)
            sandbox += ["--returns-api-url", f"http://{api_host}:{port}"]
            sandbox_env["SANDBOX_RETURNS_TOKEN"] = web_returns.token
        commands = {
            # The sandbox partner plays the demo external systems (see connectors/demo.py).
            "sandbox": sandbox,
            "web": web_command(host=host, port=port, workers=options["workers"]),
            # Warnings and errors only: the routine lines (task received, succeeded, beat
            # sending) would scroll the address and the demo users away within seconds.
            "worker": [python, "-m", "celery", "-A", "retailops", "--quiet", "worker", "--beat",
                       "--loglevel=WARNING",
                       "--concurrency=2", "--schedule", settings.CELERY_BEAT_SCHEDULE_FILENAME,
                       "--queues", ",".join(dict.fromkeys(["celery", settings.INTEGRATIONS_QUEUE]))],
        }
        processes = {name: subprocess.Popen(command, env=sandbox_env if name == "sandbox" else os.environ.copy())
                     for name, command in commands.items()}
        stopping = False

        def stop(*_signal_args):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        announced = False
        try:
            while not stopping and all(process.poll() is None for process in processes.values()):
                if not announced and self._serving(f"http://{host}:{port}/healthz"):
                    self._announce(f"http://{host}:{port}/")
                    announced = True
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

    @staticmethod
    def _serving(url: str) -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (our own loopback address)
                return response.status == 200
        except OSError:
            return False

    def _announce(self, url: str) -> None:
        lines = ["", f"RetailOps is serving on {url} (worker, beat and the sandbox partner running). Ctrl-C stops."]
        demo = demo_sign_ins()
        if demo:
            lines.append("Sign in as one of the demo users (username / password / role):")
            lines += [f"  {user.username:<12} {user.password:<24} {user.role}"
                      + (f" at {', '.join(user.locations)}" if user.locations else "") for user in demo]
        self.stdout.write("\n".join(lines) + "\n")
