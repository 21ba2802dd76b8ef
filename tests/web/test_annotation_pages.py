"""`newest_matching` reads annotations newest first in pages: the same answer as filtering all of them,
also when more annotations than a page share one time (a bulk import, a CI run posting many at once)."""

from __future__ import annotations

import pytest
from sqlite_utils import Database

from slowatch.reports.marks import FIRST_PAGE, newest_matching
from slowatch.store.annotations import Annotation, add_annotation, annotation_tables, list_annotations


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Database:
    db = Database(tmp_path_factory.mktemp("pages") / "annotations.db")
    annotation_tables(db)
    times = [1000.0] * (FIRST_PAGE * 3 // 2) + [float(t) for t in range(900, 1100, 3)] + [1000.0] * 7
    with db.conn:  # one transaction
        for i, ts in enumerate(times):
            add_annotation(Annotation(ts, "deploy" if i % 3 == 0 else "note", f"a{i}", id=f"{i:05d}"))(db)
    return db


@pytest.mark.parametrize("limit", [1, 2, 7, FIRST_PAGE, FIRST_PAGE * 2, 10_000])
@pytest.mark.parametrize("since,until", [(None, None), (950.0, 1000.0), (1000.0, 1000.0), (None, 999.0)])
def test_pages_give_what_one_read_of_everything_gives(
    db: Database, limit: int, since: float | None, until: float | None
) -> None:
    def keep(a: Annotation) -> bool:
        return a.kind == "deploy"

    everything = list_annotations(db.conn, since=since, until=until, limit=1_000_000)
    expected = [a for a in everything if keep(a)][-limit:]
    assert newest_matching(db.conn, since, until, limit, keep) == expected
    assert newest_matching(db.conn, since, until, limit, lambda a: True) == everything[-limit:]
