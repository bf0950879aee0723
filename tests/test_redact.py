"""Database URL passwords are never printed (issue 22, Secrets)."""

from __future__ import annotations

import pytest

from privsynth import io
from privsynth.errors import InputError
from privsynth.redact import mask, mask_url

SECRET = "S3cretPW"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"postgresql://alice:{SECRET}@db:5432/people", "postgresql://alice:***@db:5432/people"),
        (
            f"postgresql+psycopg://alice:{SECRET}@db/p?sslmode=require",
            "postgresql+psycopg://alice:***@db/p?sslmode=require",
        ),
        (f"postgresql://db/p?user=alice&password={SECRET}", "postgresql://db/p?user=alice&password=***"),
        (f"mysql://bob:a@b{SECRET}@db/x", "mysql://bob:***@db/x"),
        ("postgresql://alice@db/people", "postgresql://alice@db/people"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
        ("data/people.csv", "data/people.csv"),
    ],
)
def test_mask_url(url, shown):
    assert mask_url(url) == shown
    assert SECRET not in mask(f"failed for {url}", url)
    assert SECRET not in mask(f"password {SECRET!r} rejected", f"postgresql://alice:{SECRET}@db/people")


def test_a_failing_read_never_shows_the_password(run_cli):
    url = f"postgresql+psycopg://alice:{SECRET}@127.0.0.1:1/people"
    with pytest.raises(InputError) as caught:
        io.read(url, table="people")
    assert SECRET not in str(caught.value) and "alice:***@" in str(caught.value)
    done = run_cli("fit", url, "--table", "people", "--engine", "independent", "-o", "m.psm")
    assert done.code == 2 and SECRET not in done.stderr + done.stdout and "***" in done.stderr
    done = run_cli("--catalog", url, "catalog", "list")
    assert done.code == 2 and SECRET not in done.stderr + done.stdout
