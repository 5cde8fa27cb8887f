"""Settings come from the environment and refuse unsafe combinations."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_settings(*, code: str = "print(settings.DEBUG, settings.DATABASES['default']['ENGINE'])",
                  **env) -> subprocess.CompletedProcess:
    """Load the settings in a fresh process with `env`, and run `code` against them."""
    clean = {key: value for key, value in os.environ.items()
             if key not in {"DEBUG", "SECRET_KEY", "RETAILOPS_TESTING", "DATABASE_URL", "DATABASE_REPLICA_URL"}}
    clean.update({"RETAILOPS_ENV_FILE": os.devnull, **env})  # a checkout's .env is not these tests' input
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); from django.conf import settings; {code}"],
        cwd=ROOT, env={**clean, "DJANGO_SETTINGS_MODULE": "retailops.settings"},
        capture_output=True, text=True, timeout=60,
    )


def test_refuses_to_start_with_debug_off_and_no_secret_key():
    result = load_settings(DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_starts_with_debug_off_and_a_secret_key():
    result = load_settings(DEBUG="0", SECRET_KEY="x" * 50, ALLOWED_HOSTS="ops.example")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "django.db.backends.sqlite3"]


def test_database_url_selects_postgresql():
    result = load_settings(DEBUG="1", DATABASE_URL="postgres://u@db.invalid:5432/x")
    assert result.stdout.split() == ["True", "django.db.backends.postgresql"]


def test_postgresql_bounds_lock_waits_and_prepares_statements_unless_a_pooler_forbids_it():
    show = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'])"

    def options(**env) -> str:
        clean = {key: value for key, value in os.environ.items()
                 if key not in {"RETAILOPS_TESTING", "DATABASE_URL", "DATABASE_REPLICA_URL", "DB_SERVER_SIDE_BINDING",
                                "LOCK_TIMEOUT_MS"}}
        result = subprocess.run(
            [sys.executable, "-c", f"import django; django.setup(); {show}"], cwd=ROOT, capture_output=True,
            text=True, timeout=60, env={**clean, "RETAILOPS_ENV_FILE": os.devnull, "DEBUG": "1",
                                        "DATABASE_URL": "postgres://u@db.invalid:5432/x",
                                        "DJANGO_SETTINGS_MODULE": "retailops.settings", **env})
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert options() == "{'options': '-c lock_timeout=5000', 'server_side_binding': True, 'prepare_threshold': 5}"
    assert options(LOCK_TIMEOUT_MS="200", DB_SERVER_SIDE_BINDING="0") == "{'options': '-c lock_timeout=200'}"


def test_a_read_replica_needs_a_postgresql_primary_and_is_never_created_by_the_test_runner():
    replica = "postgres://u@replica.invalid:5433/x"
    assert "DATABASE_REPLICA_URL needs DATABASE_URL to be PostgreSQL" in load_settings(
        DEBUG="1", DATABASE_REPLICA_URL=replica).stderr
    show = ("d = settings.DATABASES['replica']; "
            "print(d['HOST'], d['PORT'], d['TEST']['MIRROR'], d['OPTIONS']['connect_timeout'], settings.REPLICA_READS)")
    result = load_settings(DEBUG="1", DATABASE_URL="postgres://u@db.invalid:5432/x", DATABASE_REPLICA_URL=replica,
                           code=show)
    assert result.stdout.split() == ["replica.invalid", "5433", "default", "2", "True"], result.stderr
    assert "'replica'" not in load_settings(DEBUG="1", code="print(list(settings.DATABASES))").stdout


def test_sqlite_default_takes_the_write_lock_at_begin():
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        assert settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    result = load_settings(DEBUG="1")
    assert result.stdout.split()[1] == "django.db.backends.sqlite3"


def manage(*args, **env) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items()
             if key not in {"DEBUG", "SECRET_KEY", "RETAILOPS_TESTING", "DATABASE_URL", "DATABASE_REPLICA_URL"}}
    clean.update({"RETAILOPS_ENV_FILE": os.devnull, **env})
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True,
                          timeout=120)


def test_a_migration_check_needs_no_secret_key_but_serving_still_does(tmp_path):
    check = manage("makemigrations", "--check", "--dry-run", DEBUG="0", RETAILOPS_VAR_DIR=str(tmp_path))
    assert check.returncode == 0, check.stderr
    assert "No changes detected" in check.stdout

    serve = manage("migrate", "--noinput", DEBUG="0", RETAILOPS_VAR_DIR=str(tmp_path))
    assert serve.returncode != 0
    assert "SECRET_KEY must be set" in serve.stderr


def test_a_checkouts_env_file_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# as make run writes it\nDEBUG=1\nSECRET_KEY=" + "k" * 50 + "\n")

    from_file = load_settings(RETAILOPS_ENV_FILE=str(env_file))
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stdout.split()[0] == "True"

    overridden = load_settings(RETAILOPS_ENV_FILE=str(env_file), DEBUG="0", ALLOWED_HOSTS="ops.example")
    assert overridden.returncode == 0, overridden.stderr  # the key still comes from the file
    assert overridden.stdout.split()[0] == "False"


def test_the_test_runner_never_reads_an_env_file(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("DEBUG=1\n")
    result = load_settings(RETAILOPS_ENV_FILE=str(env_file), RETAILOPS_TESTING="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[0] == "False"
