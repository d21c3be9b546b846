"""Django with mssql-django, unmodified, driven by its own manage.py commands as the identities `azsqlctl grant` made.

mssql-django looks the ODBC driver up by name, so the test registers "ODBC Driver 18 for SQL Server"
in an odbcinst.ini (as Microsoft's package does) and points ODBCSYSINI at it. settings.py takes an
access token from the sandbox's managed-identity endpoint through azure-identity and hands it to
mssql-django's TOKEN setting (SQL_COPT_SS_ACCESS_TOKEN), the documented way to use Entra tokens.

Each `manage.py` command runs in a process of its own, forked from a server that imported Django, azure-identity
and pyodbc once (tests/cli_fork.py, as the CLI's processes are): the command's own settings, token, ODBC
environment, connections and exit code, without ~0.5 s of CPU of imports per command. Nothing preloaded reads
Django's settings or opens an ODBC environment (mssql-django's backend reads settings at import: left to each command).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_fork import SCRIPT, ForkServer
from tests.conftest import driver_path

from .conftest import MIGRATOR, READER, WRITER, Stack

pytestmark = pytest.mark.slow

SETTINGS = """
import os

from azure.identity import ManagedIdentityCredential

SECRET_KEY = "stack-test-only"
DEBUG = False
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
ROOT_URLCONF = "site_urls"
INSTALLED_APPS = [
    "django.contrib.admin", "django.contrib.auth", "django.contrib.contenttypes", "django.contrib.sessions",
    "django.contrib.messages", "shop",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware", "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [{
    "BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
    "OPTIONS": {"context_processors": [
        "django.template.context_processors.request", "django.contrib.auth.context_processors.auth",
        "django.contrib.messages.context_processors.messages",
    ]},
}]
_credential = ManagedIdentityCredential(client_id=os.environ["STACK_CLIENT_ID"])
DATABASES = {
    "default": {
        "ENGINE": "mssql",
        "NAME": "appdb",
        "HOST": "localhost",
        "PORT": os.environ["STACK_SQL_PORT"],
        "TOKEN": _credential.get_token("https://database.windows.net/.default").token,
        "OPTIONS": {"driver": "ODBC Driver 18 for SQL Server", "extra_params": "Encrypt=yes;TrustServerCertificate=no"},
    }
}
"""

MODELS = """
from django.db import models


class Category(models.Model):
    name = models.CharField(max_length=50, unique=True)


class Product(models.Model):
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="products")
    sku = models.CharField(max_length=20, unique=True)
    title = models.CharField(max_length=100, db_index=True)
    price = models.DecimalField(max_digits=8, decimal_places=2)
    note = models.CharField(max_length=40, null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(price__gte=0), name="price_non_negative")]
"""

REVIEW_MODEL = """

class Review(models.Model):
    product = models.ForeignKey(Product, on_delete=models.CASCADE)
    stars = models.PositiveSmallIntegerField()
"""

# Each ORM operation the app makes, as the writer; it prints what it did for the fresh-connection read-back.
WRITE = """
import json
from decimal import Decimal
from shop.models import Category, Product
tools = Category.objects.create(name="tools")
toys, created = Category.objects.get_or_create(name="toys")
again, created_again = Category.objects.get_or_create(name="toys")
Product.objects.bulk_create([
    Product(category=tools, sku="HAM-1", title="Hammer", price=Decimal("12.50")),
    Product(category=tools, sku="SAW-1", title="Saw", price=Decimal("20.00")),
    Product(category=toys, sku="YOYO", title="Yo-yo", price=Decimal("3.99")),
])
saw = Product.objects.get(sku="SAW-1")
saw.price = Decimal("18.75")
saw.note = "on sale"
saw.save()
updated = Product.objects.filter(category=toys).update(note="kids")
Product.objects.filter(sku="HAM-1").delete()
print(json.dumps({"created": created, "created_again": created_again, "same": toys.pk == again.pk, "updated": updated}))
"""

READ = """
import json
from shop.models import Category, Product
rows = [
    [p.sku, p.title, str(p.price), p.note, p.category.name, p.created is not None]
    for p in Product.objects.select_related("category").order_by("sku")
]
print(json.dumps({"products": rows, "categories": sorted(Category.objects.values_list("name", flat=True))}))
"""


def _project(root: Path) -> None:
    (root / "shop" / "migrations").mkdir(parents=True)
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "migrations" / "__init__.py").write_text("")
    (root / "shop" / "models.py").write_text(MODELS)
    (root / "site_settings.py").write_text(SETTINGS)
    (root / "site_urls.py").write_text(
        "from django.contrib import admin\nfrom django.urls import path\nurlpatterns = [path('admin/', admin.site.urls)]\n"
    )
    (root / "manage.py").write_text(
        "import os, sys\nfrom django.core.management import execute_from_command_line\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'site_settings')\nexecute_from_command_line(sys.argv)\n"
    )
    # What Microsoft's msodbcsql18 package registers, pointed at the PyPI-shipped driver library.
    (root / "odbcinst.ini").write_text(
        f"[ODBC Driver 18 for SQL Server]\nDescription=Microsoft ODBC Driver 18 for SQL Server\nDriver={driver_path()}\nUsageCount=1\n"
    )
    (root / "odbc.ini").write_text("")


# What every manage.py command imports before it reads its settings.
PRELOADED = (
    "django.core.management",
    "django.core.management.commands.migrate",
    "django.core.management.commands.makemigrations",
    "django.core.management.commands.showmigrations",
    "django.core.management.commands.shell",
    "django.db.models",
    "django.db.migrations.autodetector",
    "django.db.migrations.executor",
    "django.db.backends.base.base",
    "django.contrib.admin",
    "django.contrib.auth.hashers",
    "django.forms",
    "django.template",
    "azure.identity",
    "pyodbc",
)


@pytest.fixture(scope="module")
def forks() -> Iterator[ForkServer]:
    """`python manage.py ...` without the imports each time: its command line is ``forks.command``."""
    server = ForkServer("manage", SCRIPT, PRELOADED)
    server.start()
    yield server
    server.stop()


def _manage(forks: ForkServer, stack: Stack, root: Path, identity: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ODBCSYSINI": str(root),
        "STACK_CLIENT_ID": stack.client_id(identity),
        "STACK_SQL_PORT": str(stack.clients.port),
        "PYTHONPATH": str(root),
    }
    return subprocess.run([*forks.command, "manage.py", *args], cwd=root, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_django_migrate_and_orm(forks: ForkServer, stack: Stack, tmp_path: Path) -> None:
    root = tmp_path / "site"
    _project(root)
    _ok(_manage(forks, stack, root, MIGRATOR, "makemigrations", "shop"))
    out = _ok(_manage(forks, stack, root, MIGRATOR, "migrate", "--no-input"))
    for applied in ("contenttypes.0001_initial", "auth.0001_initial", "admin.0001_initial", "sessions.0001_initial", "shop.0001_initial"):
        assert f"Applying {applied}... OK" in out, out
    # The migration recorder's rows are there: a second migrate has nothing to do.
    assert "No migrations to apply." in _ok(_manage(forks, stack, root, MIGRATOR, "migrate", "--no-input"))
    assert "[X] 0001_initial" in _ok(_manage(forks, stack, root, READER, "showmigrations", "shop"))

    did = json.loads(_ok(_manage(forks, stack, root, WRITER, "shell", "-c", WRITE)).strip().splitlines()[-1])
    assert did == {"created": True, "created_again": False, "same": True, "updated": 1}
    seen = json.loads(_ok(_manage(forks, stack, root, READER, "shell", "-c", READ)).strip().splitlines()[-1])
    assert seen == {
        "products": [["SAW-1", "Saw", "18.75", "on sale", "tools", True], ["YOYO", "Yo-yo", "3.99", "kids", "toys", True]],
        "categories": ["tools", "toys"],
    }

    # Constraints the migration created are enforced.
    bad = _manage(
        forks,
        stack,
        root,
        WRITER,
        "shell",
        "-c",
        "from shop.models import *; Product.objects.create(category=Category.objects.first(), sku='NEG', title='x', price=-1)",
    )
    assert bad.returncode != 0 and 'conflicted with the CHECK constraint "price_non_negative"' in bad.stderr and "(547)" in bad.stderr
    dup = _manage(forks, stack, root, WRITER, "shell", "-c", "from shop.models import *; Category.objects.create(name='TOOLS')")
    assert dup.returncode != 0 and "(2627)" in dup.stderr

    # The reader may not write (229); the writer may not migrate (262).
    denied = _manage(forks, stack, root, READER, "shell", "-c", "from shop.models import *; Category.objects.create(name='nope')")
    assert "The INSERT permission was denied on the object 'shop_category', database 'appdb', schema 'dbo'. (229)" in denied.stderr
    (root / "shop" / "models.py").write_text(MODELS + REVIEW_MODEL)
    _ok(_manage(forks, stack, root, MIGRATOR, "makemigrations", "shop"))
    refused = _manage(forks, stack, root, WRITER, "migrate", "--no-input")
    assert refused.returncode != 0 and "CREATE TABLE permission denied in database 'appdb'. (262)" in refused.stderr
    assert "Applying shop.0002_review... OK" in _ok(_manage(forks, stack, root, MIGRATOR, "migrate", "--no-input"))
    # And back: unapplying a migration drops its table.
    assert "Unapplying shop.0002_review... OK" in _ok(_manage(forks, stack, root, MIGRATOR, "migrate", "shop", "0001", "--no-input"))
